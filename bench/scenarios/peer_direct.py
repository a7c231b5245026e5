"""2. Peer: the plain implementation without HTTP, tasks sent with ``apply_async`` directly.

The bench process sends the tasks one by one and reads every result with ``AsyncResult``,
as a script using the peer's Celery app would: tasks/s from the first send to the last result.
"""
import time

from bench.context import Context, Skipped
from bench.peer.celery_app import PRIORITIES, TASK_NAME

RESULT_TIMEOUT_SECONDS = 60


def run(ctx: Context) -> dict:
    stack = ctx.peer
    if stack is None:
        raise Skipped("the peer stack is not running")
    task = stack.celery.tasks[TASK_NAME]
    texts = ctx.texts.texts
    count = ctx.plan.peer_direct_tasks
    started = time.perf_counter()
    results = [task.apply_async(args=[texts[i % len(texts)]], priority=PRIORITIES["normal"])
               for i in range(count)]
    sent = time.perf_counter()
    deadline = sent + RESULT_TIMEOUT_SECONDS
    for result in results:
        result.get(timeout=max(0.1, deadline - time.perf_counter()))
    finished = time.perf_counter()
    return {"tasks": count,
            "send_per_s": round(count / (sent - started), 1),
            "tasks_per_s": round(count / (finished - started), 1),
            "seconds": round(finished - started, 3)}
