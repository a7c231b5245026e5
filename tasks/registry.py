"""The task registry: one Redis hash per task is the truth about that task.

The API stores a task and its Celery message in one step; workers claim, complete or fail
it here; ``GET /task/{id}`` reads only this. Each state change is one Lua script, so it is
atomic, idempotent under redelivery, and emits its event and metrics in the same step.
"""
import json
import secrets
from dataclasses import dataclass

import redis

from tasks import keys, metrics
from tasks import registry_scripts as scripts
from tasks.queues import PRIORITIES, priorities_at_or_above

TASK_ID_PREFIX = "task_"


def new_task_id() -> str:
    """An opaque, unguessable task id (128 random bits)."""
    return TASK_ID_PREFIX + secrets.token_hex(16)


class QueueFull(Exception):
    """The backlog reached its capacity; nothing was stored."""

    def __init__(self, waiting: int):
        super().__init__(f"{waiting} tasks waiting")
        self.waiting = waiting


@dataclass(frozen=True)
class Acceptance:
    """What the registry knows right after a task was accepted."""

    task_id: str
    position: int | None
    recent_completed: float = 0.0
    recent_service_ms: float = 0.0
    window_seconds: float = 0.0
    replayed: bool = False  # an earlier submission with the same Idempotency-Key

    def estimated_seconds(self) -> float | None:
        """Mean recent service time plus the tasks ahead at the recent completion rate.

        None when nothing completed within the window: there is nothing to measure from.
        """
        if self.position is None or self.recent_completed <= 0 or self.window_seconds <= 0:
            return None
        service = self.recent_service_ms / self.recent_completed / 1000
        rate = self.recent_completed / self.window_seconds
        return service + (self.position - 1) / rate


@dataclass(frozen=True)
class Claim:
    task_id: str
    outcome: str  # claimed, missing, expired, failed, or the status that made it not runnable
    text: str | None = None


class TaskRegistry:
    """Task state in Redis; every method is one round trip."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, event_maxlen: int,
                 estimate_window_seconds: int, max_attempts: int,
                 idempotency_ttl_seconds: int = 86400):
        self.client = client
        self._config = json.dumps({
            "task": keys.TASK,
            "queued": keys.QUEUED,
            "processing": keys.PROCESSING,
            "events": keys.EVENTS,
            "metrics": keys.METRICS,
            "dead": keys.DEAD,
            "priorities": PRIORITIES,
            "ttl": ttl_seconds,
            "maxlen": event_maxlen,
            "estimate_window": estimate_window_seconds,
            "max_attempts": max_attempts,
            "idempotency_ttl": idempotency_ttl_seconds,
            **metrics.config(),
        })
        self._accept = client.register_script(scripts.ACCEPT)
        self._claim = client.register_script(scripts.CLAIM)
        self._complete = client.register_script(scripts.COMPLETE)
        self._fail = client.register_script(scripts.FAIL)
        self._requeue = client.register_script(scripts.REQUEUE)

    @classmethod
    def from_settings(cls, client: redis.Redis, config) -> "TaskRegistry":
        """A registry configured by ``settings.load()`` or a Flask config."""
        return cls(client, config["TASK_TTL_SECONDS"], config["EVENT_STREAM_MAXLEN"],
                   config["ESTIMATE_WINDOW_SECONDS"], config["MAX_ATTEMPTS"],
                   config["IDEMPOTENCY_TTL_SECONDS"])

    def accept(self, task_id: str, priority: str, fields: dict, message: tuple[str, str],
               timeout_seconds: float | None = None, idempotency_key: str | None = None,
               capacity: int = 0) -> Acceptance:
        """Store a new queued task with its Celery message; say where it stands in the queue.

        Raises ``QueueFull`` when ``capacity`` tasks are already waiting.
        """
        queue_key, body = message
        reply = self._accept(args=[self._config, json.dumps({
            "id": task_id, "priority": priority, "ahead": priorities_at_or_above(priority),
            "timeout": timeout_seconds, "fields": fields, "queue_key": queue_key,
            "message": body, "idempotency_key": idempotency_key, "capacity": capacity,
        })])
        outcome = reply[0]
        if outcome == "duplicate":
            return Acceptance(reply[1], None, replayed=True)
        if outcome == "full":
            raise QueueFull(int(reply[1]))
        _, position, completed, service_ms, covered = reply
        return Acceptance(task_id, int(position), float(completed), float(service_ms),
                          float(covered))

    def claim(self, task_ids: list[str], worker: str) -> list[Claim]:
        """Mark tasks as processing by ``worker`` and return their texts; skip finished ones."""
        rows = self._claim(args=[self._config, worker, *task_ids])
        return [Claim(row[0], row[1], row[2] if len(row) > 2 else None) for row in rows]

    def complete(self, task_id: str, result: dict) -> bool:
        """Store a result; False when the task was no longer processing (a redelivery)."""
        return bool(self._complete(args=[self._config, task_id, json.dumps(result)]))

    def fail(self, task_id: str, code: str, message: str) -> bool:
        """End a task as failed with an error code; False when it had already ended."""
        return bool(self._fail(args=[self._config, task_id, code, message]))

    def processing_since_before(self, cutoff: float) -> list[str]:
        """Ids of tasks that started processing before ``cutoff`` and have not ended."""
        return self.client.zrangebyscore(keys.PROCESSING, "-inf", cutoff)

    def routes(self, task_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Channel and priority of each task that still exists."""
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(keys.task(task_id), "channel", "priority")
            rows = pipe.execute()
        return {task_id: (channel, priority)
                for task_id, (channel, priority) in zip(task_ids, rows, strict=True) if channel}

    def requeue(self, cutoff: float, messages: dict[str, tuple[str, str]]) -> list[str]:
        """Put back tasks still processing since before ``cutoff``, each with its message."""
        return self._requeue(args=[self._config, repr(cutoff), json.dumps(messages)])

    def get(self, task_id: str) -> dict | None:
        """The stored task as a dict of strings, or None when unknown or expired."""
        if not task_id.startswith(TASK_ID_PREFIX):
            return None
        return self.client.hgetall(keys.task(task_id)) or None
