"""7. Memory: Redis bytes per stored task, and RSS of an API process and a worker.

Redis: the growth of ``used_memory`` over scenario 3 divided by the tasks it stored (every
key a task leaves behind: registry hash, events, result), and ``MEMORY USAGE`` of every
per-task key itself (a sample of a few hundred moved the mean by tens of bytes between
runs). Tweet-sized texts: the data set's tweets. RSS right after scenario 3, with psutil.
"""
import settings
from bench.context import Context, Skipped
from bench.stacks import PeerStack, ProjectStack, Stack

CHUNK = 1000


def key_sizes(stack: Stack, names: list[str]) -> dict:
    """Mean ``MEMORY USAGE`` of the keys ``names``, and how many of them expire."""
    if not names:
        return {"keys": 0}
    answers = []
    for start in range(0, len(names), CHUNK):
        with stack.redis.pipeline(transaction=False) as pipe:
            for name in names[start:start + CHUNK]:
                pipe.memory_usage(name, samples=0)
                pipe.ttl(name)
            answers.extend(pipe.execute())
    sizes, ttls = answers[0::2], answers[1::2]
    return {"keys": len(names),
            "mean_key_bytes": round(sum(s or 0 for s in sizes) / len(names), 1),
            "keys_with_ttl": sum(1 for t in ttls if t is not None and t > 0)}


def redis_per_task(stack: Stack, single: dict) -> dict:
    memory = single.get("redis_memory") or {}
    tasks = memory.get("tasks") or 0
    result = {"tasks_stored": tasks}
    if tasks:
        result["bytes_per_task"] = round((memory["used_after"] - memory["used_before"]) / tasks)
    if isinstance(stack, ProjectStack):
        result["task_hash"] = key_sizes(stack, stack.task_keys())
        from tasks import keys
        # The index of GET /tasks keeps one entry per task for TASK_TTL_SECONDS.
        indexed = stack.redis.zcard(keys.TASK_INDEX)
        if indexed:
            result["task_index_bytes_per_task"] = round(
                stack.redis.memory_usage(keys.TASK_INDEX, samples=0) / indexed)
        events = stack.redis.memory_usage(keys.EVENTS, samples=0)
        if events and tasks:
            result["event_stream_bytes_per_task"] = round(events / tasks)
            # The stream is trimmed to about EVENT_STREAM_MAXLEN entries whatever the load.
            entries = stack.redis.xlen(keys.EVENTS)
            result["event_stream_bytes_at_cap"] = round(
                events / entries * settings.get("EVENT_STREAM_MAXLEN")) if entries else None
    elif isinstance(stack, PeerStack):
        result["result_key"] = key_sizes(stack, stack.result_keys())
    return result


def run(ctx: Context, single_result: dict | None) -> dict:
    if not single_result or not {"project", "peer"} & set(single_result):
        raise Skipped("needs the figures of scenario 3 (single messages), which has none")
    results = {}
    for stack in ctx.stacks():
        if stack.name not in single_result:
            continue
        rss = stack.rss()
        results[stack.name] = {
            "redis": redis_per_task(stack, single_result[stack.name]),
            "rss_bytes": {
                "api_process": max(rss["api"].get("children") or [0]),
                "api_master": rss["api"].get("main"),
                "worker_main": rss["worker"].get("main"),
                "worker_pool": rss["worker"].get("children", []),
                "worker_total": (rss["worker"].get("main") or 0)
                + sum(rss["worker"].get("children", [])),
            },
        }
    return results
