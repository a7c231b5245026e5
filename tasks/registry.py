"""The task registry: one Redis hash per task is the truth about that task.

The API writes a task here before it enqueues the Celery message; workers claim, complete
or fail it here; ``GET /task/{id}`` reads only this. Each state change is one Lua script, so
it is atomic, idempotent under redelivery, and emits its event and metrics in the same step.
"""
import json
import secrets
from dataclasses import dataclass

import redis

from tasks import keys, metrics
from tasks import registry_scripts as scripts
from tasks.queues import priorities_at_or_above

TASK_ID_PREFIX = "task_"



def new_task_id() -> str:
    """An opaque, unguessable task id (128 random bits)."""
    return TASK_ID_PREFIX + secrets.token_hex(16)


@dataclass(frozen=True)
class Acceptance:
    """What the registry knows right after a task was accepted."""

    position: int
    recent_completed: float
    recent_service_ms: float
    window_seconds: float

    def estimated_seconds(self) -> float | None:
        """Mean recent service time plus the tasks ahead at the recent completion rate.

        None when nothing completed within the window: there is nothing to measure from.
        """
        if self.recent_completed <= 0 or self.window_seconds <= 0:
            return None
        service = self.recent_service_ms / self.recent_completed / 1000
        rate = self.recent_completed / self.window_seconds
        return service + (self.position - 1) / rate


@dataclass(frozen=True)
class Claim:
    task_id: str
    outcome: str  # claimed, missing, expired, or the status that made it not runnable
    text: str | None = None


class TaskRegistry:
    """Task state in Redis; every method is one round trip."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, event_maxlen: int,
                 estimate_window_seconds: int, max_attempts: int):
        self.client = client
        self._config = json.dumps({
            "task": keys.TASK,
            "queued": keys.QUEUED,
            "events": keys.EVENTS,
            "metrics": keys.METRICS,
            "dead": keys.DEAD,
            "ttl": ttl_seconds,
            "maxlen": event_maxlen,
            "estimate_window": estimate_window_seconds,
            "max_attempts": max_attempts,
            **metrics.config(),
        })
        self._accept = client.register_script(scripts.ACCEPT)
        self._claim = client.register_script(scripts.CLAIM)
        self._complete = client.register_script(scripts.COMPLETE)
        self._fail = client.register_script(scripts.FAIL)

    @classmethod
    def from_settings(cls, client: redis.Redis, config) -> "TaskRegistry":
        """A registry configured by ``settings.load()`` or a Flask config."""
        return cls(client, config["TASK_TTL_SECONDS"], config["EVENT_STREAM_MAXLEN"],
                   config["ESTIMATE_WINDOW_SECONDS"], config["MAX_ATTEMPTS"])

    def accept(self, task_id: str, priority: str, fields: dict[str, str],
               timeout_seconds: float | None = None) -> Acceptance:
        """Store a new queued task and say where it stands in the queue."""
        pairs = [str(item) for field in fields.items() for item in field]
        position, completed, service_ms, covered = self._accept(args=[
            self._config, task_id, priority, json.dumps(priorities_at_or_above(priority)),
            "" if timeout_seconds is None else repr(float(timeout_seconds)), *pairs,
        ])
        return Acceptance(int(position), float(completed), float(service_ms), float(covered))

    def withdraw(self, task_id: str, priority: str) -> None:
        """Remove a task whose Celery message could not be published: it was never accepted."""
        with self.client.pipeline() as pipe:
            pipe.delete(keys.task(task_id))
            pipe.zrem(keys.queued(priority), task_id)
            pipe.execute()

    def claim(self, task_ids: list[str]) -> list[Claim]:
        """Mark tasks as processing and return their texts; finished tasks are skipped."""
        rows = self._claim(args=[self._config, *task_ids])
        return [Claim(row[0], row[1], row[2] if len(row) > 2 else None) for row in rows]

    def complete(self, task_id: str, result: dict) -> bool:
        """Store a result; False when the task was no longer processing (a redelivery)."""
        return bool(self._complete(args=[self._config, task_id, json.dumps(result)]))

    def fail(self, task_id: str, code: str, message: str) -> bool:
        """End a task as failed with an error code; False when it had already ended."""
        return bool(self._fail(args=[self._config, task_id, code, message]))

    def get(self, task_id: str) -> dict | None:
        """The stored task as a dict of strings, or None when unknown or expired."""
        if not task_id.startswith(TASK_ID_PREFIX):
            return None
        return self.client.hgetall(keys.task(task_id)) or None
