"""6. Monitoring cost: ``GET /workers``, ``/health``, ``/channels`` with 4 workers running,
against one ``app.control.inspect().stats()`` round trip measured in the same run.

Requests go one at a time with an operator token, bounded in count and time per route.
"""
import logging
import time

from bench.context import Context, Skipped
from bench.stacks import OPERATOR_TOKEN
from bench.stats import summary_ms

logger = logging.getLogger(__name__)

ROUTES = ("/workers", "/health", "/channels")


def measure_route(client, route: str, count: int, seconds: float) -> dict:
    latencies, statuses = [], {}
    deadline = time.monotonic() + seconds
    answer = None
    while len(latencies) < count and time.monotonic() < deadline:
        status, answer, elapsed = client.get(route)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        latencies.append(elapsed)
    result = {**summary_ms(latencies), "statuses": statuses}
    if route == "/workers" and isinstance(answer, dict):
        result["total_workers_reported"] = answer.get("total_workers")
    return result


def measure_inspect(celery_app, calls: int) -> dict:
    rounds = []
    for _ in range(calls):
        started = time.perf_counter()
        replies = celery_app.control.inspect().stats() or {}
        rounds.append({"seconds": time.perf_counter() - started, "replies": len(replies)})
    return {**summary_ms(r["seconds"] for r in rounds),
            "replies": [r["replies"] for r in rounds]}


def run(ctx: Context) -> dict:
    stack = ctx.project
    if stack is None:
        raise Skipped("the project stack is not running")
    plan = ctx.plan
    client = stack.client(OPERATOR_TOKEN)
    running = len(stack.workers) + len(stack.standing)  # the standing urgent worker counts
    extra = [stack.start_worker(index, concurrency=1)
             for index in range(1, plan.monitoring_workers - running + 1)]
    try:
        stack.wait_workers(extra)
        results = {"workers": len(stack.workers) + len(stack.standing), "routes": {}}
        for route in ROUTES:
            status, answer, _ = client.get(route)
            if status == 404:
                results["routes"][route] = {"available": False,
                                            "reason": f"not available yet ({route} answered 404)"}
            elif not 200 <= status < 300:
                results["routes"][route] = {"available": False,
                                            "reason": f"{route} answered {status}: "
                                                      f"{str(answer)[:160]}"}
            else:
                results["routes"][route] = {"available": True, **measure_route(
                    client, route, plan.monitoring_requests, plan.monitoring_seconds)}
        logger.info("monitoring: inspect().stats() x%d with %d workers", plan.inspect_calls,
                    len(stack.workers))
        results["inspect_stats"] = measure_inspect(stack.celery, plan.inspect_calls)
        return results
    finally:
        client.close()
        stack.stop_workers([hostname for hostname in extra if hostname in stack.workers])
