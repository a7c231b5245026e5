"""3. Single messages over HTTP: wrk posts one message per request, then every task finishes.

Per stack: wrk at a fixed number of connections for a fixed time (submit latency is wrk's
distribution), while a sampler thread posts one more message every ``sample_interval``
and notes when each POST began; its end is the finish time the server recorded. Then the
bench waits until every accepted task finished. completed/s counts the tasks completed from
the first request to the last finish. Repeated in rounds, the stacks alternating; the
median round is the result.
"""
import logging
import time

from bench import cpu, loadgen
from bench.context import Context, Skipped
from bench.stacks import CHANNEL_TOKEN, ProjectStack, Stack, wait_finished
from bench.stats import ratio, summary_ms
from bench.trips import Sampler

logger = logging.getLogger(__name__)

SCRIPT_BODIES = 1000
SAMPLE_BODIES = 100


def run_stack(ctx: Context, stack: Stack) -> dict:
    plan = ctx.plan
    bodies = ctx.bodies(stack, SCRIPT_BODIES)
    finished_before = len(stack.finish_times())  # the warm-up's
    memory_before = ctx.used_memory()
    redis_before = ctx.redis_counters()
    cpu_before = ctx.cpu(stack)
    sampler = Sampler(stack, ctx.bodies(stack, SAMPLE_BODIES), plan.sample_interval_seconds,
                      max_samples=int(plan.wrk_seconds / plan.sample_interval_seconds) + 10)
    sampler.start()
    try:
        load = loadgen.Load(plan.wrk_connections, plan.wrk_threads, plan.wrk_seconds,
                            limit=plan.wrk_max_requests)
        wrk = loadgen.run(ctx.wrk, stack.port, bodies, CHANNEL_TOKEN, load,
                          ctx.work_dir, f"single-{stack.name}")
    finally:
        sampler.stop()
    load_ended = time.time()
    sampler.join(30)
    expected = (None if isinstance(stack, ProjectStack)  # the registry knows what it accepted
                else finished_before + wrk["accepted"] + len(sampler.sent))
    all_times = wait_finished(stack, expected, plan.drain_timeout_seconds)
    cpu_after = ctx.cpu(stack)
    times = {task_id: finish for task_id, finish in all_times.items()
             if finish.finished >= wrk["started_at"]}  # not the warm-up's tasks
    last_finish = max((finish.finished for finish in times.values()), default=None)
    time.sleep(0.2)  # let the last writes settle before reading memory
    elapsed = last_finish - wrk["started_at"] if last_finish else None
    completed = sum(1 for finish in times.values() if finish.ok)
    result = {
        "wrk": wrk,
        "accepted_per_s": wrk["accepted_per_s"],
        "completed": completed,
        "failed": len(times) - completed,
        "completed_per_s": round(completed / elapsed, 1) if elapsed else None,
        "drain_seconds_after_load": round(last_finish - load_ended, 3) if last_finish else None,
        "submit_ms": {"p50": wrk["latency_ms"]["p50"], "p99": wrk["latency_ms"]["p99"]},
        "e2e_sampled_ms": summary_ms(sampler.latencies(times)),
        "sample_errors": sampler.errors[:5],
        "redis_memory": {"used_before": memory_before, "used_after": ctx.used_memory(),
                         "tasks": len(times)},
        # Forks (AOF rewrites) and late fsyncs during the run: what can explain a slow tail.
        "redis_events": {name: value - redis_before[name]
                         for name, value in ctx.redis_counters().items()},
        # Over the load and the drain, per task completed; the sampler's tasks included.
        "cpu_us_per_task": cpu.per_task_us(cpu_before, cpu_after, len(times)),
    }
    if isinstance(stack, ProjectStack):
        result["e2e_registry_ms"] = summary_ms(
            finish.finished - finish.created for finish in times.values() if finish.created)
        result["unfinished"] = len(stack.task_keys()) - len(all_times)
    return result


def median_round(rounds: list[dict]) -> dict:
    """The round whose project / peer ratio is the median (the lower one of an even count);
    by the project's completed/s when no round has a ratio."""
    def key(one_round):
        value = one_round.get("completed_ratio")
        if value is None:
            value = (one_round.get("project") or {}).get("completed_per_s")
        return -1 if value is None else value
    return sorted(rounds, key=key)[(len(rounds) - 1) // 2]


def run_round(ctx: Context, stacks: list[Stack]) -> dict:
    results = {}
    for stack in stacks:
        logger.info("single: %s, wrk %ds at %d connections", stack.name, ctx.plan.wrk_seconds,
                    ctx.plan.wrk_connections)
        results[stack.name] = run_stack(ctx, stack)
        logger.info("single: %s accepted %.0f/s, completed %s/s", stack.name,
                    results[stack.name]["accepted_per_s"] or 0,
                    results[stack.name]["completed_per_s"])
    project, peer = results.get("project"), results.get("peer")
    if project and peer:
        results["completed_ratio"] = ratio(project["completed_per_s"], peer["completed_per_s"])
        results["accepted_ratio"] = ratio(project["accepted_per_s"], peer["accepted_per_s"])
    return results


def run(ctx: Context) -> dict:
    """``single_rounds`` rounds, the stacks' order swapped each round: on a shared machine the
    speed drifts within seconds, and one pair can be lucky for either stack. The headline is
    the median round, whole (so its figures belong together); every round's are listed."""
    if ctx.wrk is None:
        raise Skipped(ctx.wrk_note)
    rounds = []
    for index in range(ctx.plan.single_rounds):
        stacks = ctx.stacks()
        rounds.append(run_round(ctx, stacks if index % 2 == 0 else stacks[::-1]))
    results = dict(median_round(rounds))
    results["rounds"] = [
        {"completed_ratio": r.get("completed_ratio"),
         **{f"{name}_completed_per_s": r[name]["completed_per_s"]
            for name in ("project", "peer") if name in r},
         **{f"{name}_submit_p99_ms": r[name]["submit_ms"]["p99"]
            for name in ("project", "peer") if name in r}}
        for r in rounds]
    return results
