"""4. Bulk over HTTP: ``POST /tasks`` with batches of 100 and 1,000, end to end, vs the ceiling.

Body ``{"tasks": [<POST /task body>, ...]}``, answer ``{"tasks": [...]}`` with each item's
``POST /task`` answer or error envelope, in order. A few client threads post the batches;
texts/s runs from the first request to the last task finished (registry timestamps).
"""
import json
import logging
import threading
import time

from bench import cpu
from bench.context import Context, Skipped
from bench.scenarios import ceiling
from bench.stacks import ProjectStack, wait_finished
from bench.stats import ratio, summary_ms

logger = logging.getLogger(__name__)

ROUTE = "/tasks"
POST_BOUND_SECONDS = 30  # the posting loop ends by then whatever is left
DRAIN_BOUND_SECONDS = 45  # per batch size: a slow bulk path must not stretch the run


def probe(stack: ProjectStack) -> str | None:
    """None when ``POST /tasks`` accepts a batch; otherwise why the scenario cannot run."""
    client = stack.client()
    try:
        status, answer, _ = client.post(ROUTE, {"tasks": [stack.submission("Probe, thanks!")]})
    finally:
        client.close()
    if status == 404:
        return "not available yet (POST /tasks answered 404)"
    if (not 200 <= status < 300 or not isinstance(answer, dict)
            or not isinstance(answer.get("tasks"), list)):
        return f"not available (POST /tasks answered {status}: {str(answer)[:200]})"
    wait_finished(stack, None, 30, [item["task_id"] for item in answer["tasks"]
                                    if isinstance(item, dict) and "task_id" in item])
    return None


def post_batches(stack: ProjectStack, bodies: list[bytes], threads: int) -> dict:
    """Post every body from ``threads`` clients; the ids accepted and what went wrong."""
    lock = threading.Lock()
    pending = iter(bodies)
    task_ids: list[str] = []
    latencies: list[float] = []
    problems: dict[str, int] = {}
    deadline = time.monotonic() + POST_BOUND_SECONDS

    def note(problem: str) -> None:
        with lock:
            problems[problem] = problems.get(problem, 0) + 1

    def client_loop() -> None:
        client = stack.client()
        try:
            while time.monotonic() < deadline:
                with lock:
                    body = next(pending, None)
                if body is None:
                    return
                status, answer, seconds = client.post(ROUTE, body)
                if not 200 <= status < 300 or not isinstance(answer, dict):
                    note(f"HTTP {status}")
                    continue
                ids = []
                for item in answer.get("tasks", []):
                    if isinstance(item, dict) and "task_id" in item:
                        ids.append(item["task_id"])
                    else:
                        note(str((item.get("error") or {}).get("code", item))[:60])
                with lock:
                    task_ids.extend(ids)
                    latencies.append(seconds)
        finally:
            client.close()

    workers = [threading.Thread(target=client_loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(POST_BOUND_SECONDS + 15)
    return {"task_ids": task_ids, "latencies": latencies, "problems": problems}


def run_size(ctx: Context, stack: ProjectStack, size: int, ceiling_rate: float | None) -> dict:
    plan = ctx.plan
    batches = max(1, plan.bulk_texts // size)
    items = ctx.bodies(stack, size * batches)
    bodies = [json.dumps({"tasks": items[i * size:(i + 1) * size]}).encode()
              for i in range(batches)]
    cpu_before = ctx.cpu(stack)
    started = time.time()
    posted = post_batches(stack, bodies, plan.bulk_client_threads)
    posting_seconds = time.time() - started
    ids = posted["task_ids"]
    times = wait_finished(stack, len(ids), min(plan.drain_timeout_seconds, DRAIN_BOUND_SECONDS),
                          ids)
    cpu_after = ctx.cpu(stack)
    last_finish = max((finish.finished for finish in times.values()), default=None)
    completed = sum(1 for finish in times.values() if finish.ok)
    texts_per_s = round(completed / (last_finish - started), 1) if last_finish else None
    return {
        "batch_size": size,
        "batches": batches,
        "texts": len(items),
        "accepted": len(ids),
        "completed": completed,
        "failed": len(times) - completed,
        "item_problems": posted["problems"],
        "post_ms": summary_ms(posted["latencies"]),
        "accepted_texts_per_s": round(len(ids) / posting_seconds, 1),
        "texts_per_s": texts_per_s,
        "ratio_to_ceiling": ratio(texts_per_s, ceiling_rate),
        "cpu_us_per_task": cpu.per_task_us(cpu_before, cpu_after, completed),
    }


def run(ctx: Context, ceiling_result: dict | None) -> dict:
    stack = ctx.project
    if stack is None:
        raise Skipped("the project stack is not running")
    reason = probe(stack)
    if reason:
        raise Skipped(reason)
    rate = ceiling.texts_per_second(ceiling_result)
    results = {"ceiling_texts_per_s": rate, "sizes": {}}
    for size in ctx.plan.bulk_batch_sizes:
        logger.info("bulk: batches of %d", size)
        results["sizes"][str(size)] = run_size(ctx, stack, size, rate)
    return results
