"""One run: start Redis and both stacks, run the scenarios in order, stop everything."""
import logging
import os
import shutil
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench import RESULTS_DIR, data, loadgen, machine
from bench.context import Context, Skipped
from bench.plan import Plan
from bench.processes import ProcessSet, start_redis
from bench.scenarios import bulk, ceiling, memory, monitoring, peer_direct, priority, single
from bench.stacks import PeerStack, ProjectStack
from bench.trips import warm_up

logger = logging.getLogger(__name__)

PROJECT_DB, PEER_DB = 0, 1
WARM_UP_MESSAGES = 20
# In the order they run: the ceiling on a quiet machine, memory right after scenario 3,
# priority last because it leaves a backlog behind (its workers are stopped).
SCENARIOS = ("ceiling", "single", "memory", "bulk", "peer", "monitoring", "priority")


def run_scenario(results: dict, name: str, function, *args) -> None:
    """Run one scenario; a skip or a failure is recorded and the run goes on."""
    started = time.monotonic()
    logger.info("scenario %s", name)
    try:
        outcome = function(*args)
    except Skipped as skip:
        outcome = {"skipped": str(skip)}
        logger.warning("scenario %s skipped: %s", name, skip)
    except Exception as exc:
        logger.exception("scenario %s failed", name)
        outcome = {"error": f"{type(exc).__name__}: {str(exc)[:600]}",
                   "traceback": traceback.format_exc(limit=6)}
    outcome["scenario_seconds"] = round(time.monotonic() - started, 1)
    results["scenarios"][name] = outcome


def start_stacks(ctx: Context) -> dict:
    """Start both APIs and workers together, then wait for each; failures are recorded."""
    problems = {}
    stacks = {"project": ProjectStack(ctx.processes, ctx.redis_port, PROJECT_DB),
              "peer": PeerStack(ctx.processes, ctx.redis_port, PEER_DB)}
    for stack in stacks.values():
        stack.start_api()
        stack.start_worker(0)
        stack.start_standing_workers()
    for name, stack in stacks.items():
        try:
            stack.wait_api()
            stack.wait_workers([*stack.workers, *stack.standing])
            problems_warming = warm_up(stack, ctx.bodies(stack, WARM_UP_MESSAGES))
            if problems_warming:
                raise RuntimeError(f"warm-up trips failed: {problems_warming[:3]}")
            setattr(ctx, name, stack)
        except Exception as exc:
            logger.error("%s stack did not start: %s", name, exc)
            problems[name] = str(exc)[:1500]
    return problems


def run(plan: Plan, only: set[str] | None = None) -> dict:
    """Every scenario (or those in ``only``) in one run; the results as a dict."""
    started = time.monotonic()
    work_dir = RESULTS_DIR / "work"
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "logs").mkdir(parents=True)
    texts = data.load()
    if texts.source.startswith("built-in"):
        logger.warning("texts: %s", texts.source)
    results = {"generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "quick": plan.quick, "plan": plan.__dict__, "machine": machine.describe(),
               "data": texts.source, "scenarios": {}}
    wanted = [name for name in SCENARIOS if only is None or name in only]
    processes = ProcessSet(work_dir / "logs")
    redis_dir = tempfile.mkdtemp(prefix="bench-redis-")
    try:
        wrk, wrk_note = loadgen.ensure_wrk()
        results["wrk"] = wrk_note if wrk else f"none: {wrk_note}"
        _, port = start_redis(processes, Path(redis_dir))
        admin = redis.Redis(port=port, decode_responses=True, socket_timeout=10)
        results["machine"]["redis"] = admin.info("server")["redis_version"]
        ctx = Context(plan, texts, work_dir, processes, port, admin, wrk,
                      "" if wrk else wrk_note)

        if "ceiling" in wanted:
            run_scenario(results, "ceiling", ceiling.run, ctx)
        if set(wanted) - {"ceiling"}:
            logger.info("starting the project and the peer")
            problems = start_stacks(ctx)
            if problems:
                results["stack_problems"] = problems
        done = results["scenarios"]
        steps = {
            "single": lambda: single.run(ctx),
            "memory": lambda: memory.run(ctx, done.get("single")),
            "bulk": lambda: bulk.run(ctx, done.get("ceiling")),
            "peer": lambda: peer_direct.run(ctx),
            "monitoring": lambda: monitoring.run(ctx),
            "priority": lambda: priority.run(ctx),
        }
        for name in wanted:
            if name in steps:
                run_scenario(results, name, steps[name])
    finally:
        logger.info("stopping every process the bench started")
        processes.stop_all()
        shutil.rmtree(redis_dir, ignore_errors=True)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.monotonic() - started, 1)
    return results
