"""What waits and what runs right now: queue lengths, oldest waiting task, tasks processing.

Tasks waiting and their age come from the registry's ``sp:queued:<channel>:<priority>`` sets
(scored by accept time), tasks processing from ``sp:processing``: both count tasks. Messages
waiting are the lengths of kombu's lists (one per channel and priority step, as Flower sums
them); a message may carry many tasks, so they are reported as messages. Two round trips.
"""
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from tasks import keys
from tasks.connections import seconds
from tasks.queues import CHANNELS, PRIORITIES, priority_lists, priority_of_step, queue_for

PROCESSING_READ_LIMIT = 10_000  # bounds the second round trip; far above any worker fleet


@dataclass(frozen=True)
class Backlog:
    """A snapshot of the queues, by Redis's clock."""

    now: float
    messages: dict[str, dict[str, int]]  # channel -> priority -> messages in kombu's lists
    tasks: dict[str, dict[str, int]]  # channel -> priority -> tasks waiting (registry)
    queued: dict[str, int]  # priority -> tasks waiting (registry)
    oldest_accepted_at: dict[str, float | None]  # priority -> accept time of the oldest waiting
    processing: dict[str, int]  # channel -> tasks processing (registry)

    def waiting(self, channel: str | None = None) -> int:
        """Tasks waiting, in one channel or in all."""
        channels = CHANNELS if channel is None else (channel,)
        return sum(sum(self.tasks[c].values()) for c in channels)

    def waiting_by_priority(self) -> dict[str, int]:
        """Tasks waiting per priority, over every channel."""
        return dict(self.queued)

    def oldest_wait_seconds(self, priority: str | None = None) -> float | None:
        """How long the oldest waiting task (of a priority, or of all) has waited."""
        times = [t for p, t in self.oldest_accepted_at.items()
                 if t is not None and (priority is None or p == priority)]
        return max(self.now - min(times), 0.0) if times else None


def read_backlog(client: redis.Redis, steps: Iterable[int]) -> Backlog:
    """The queues now; ``steps`` are the broker's priority steps (Celery's transport options)."""
    steps = tuple(steps)
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        for channel in CHANNELS:
            for name in priority_lists(queue_for(channel), steps).values():
                pipe.llen(name)
        for priority in PRIORITIES:
            for channel in CHANNELS:
                pipe.zcard(keys.queued(channel, priority))
                pipe.zrange(keys.queued(channel, priority), 0, 0, withscores=True)
        pipe.zrange(keys.PROCESSING, 0, PROCESSING_READ_LIMIT - 1)
        replies = iter(pipe.execute())
    now = seconds(next(replies))
    messages = {channel: dict.fromkeys(PRIORITIES, 0) for channel in CHANNELS}
    for channel in CHANNELS:
        for step in steps:
            length = next(replies)
            priority = priority_of_step(step)
            if length or priority in PRIORITIES:  # a step no priority uses shows when used
                messages[channel][priority] = messages[channel].get(priority, 0) + length
    tasks = {channel: {} for channel in CHANNELS}
    queued, oldest = {}, {}
    for priority in PRIORITIES:
        firsts = []
        for channel in CHANNELS:
            tasks[channel][priority] = next(replies)
            firsts.extend(score for _, score in next(replies))
        queued[priority] = sum(tasks[c][priority] for c in CHANNELS)
        oldest[priority] = min(firsts) if firsts else None
    return Backlog(now, messages, tasks, queued, oldest,
                   _processing_by_channel(client, next(replies)))


def _processing_by_channel(client: redis.Redis, task_ids: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(CHANNELS, 0)
    if not task_ids:
        return counts
    with client.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hget(keys.task(task_id), "channel")
        for channel in pipe.execute():
            if channel in counts:
                counts[channel] += 1
    return counts
