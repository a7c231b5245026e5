"""The task registry: one Redis hash per task is the truth about that task.

The API stores a task and its Celery message in one step; workers claim, complete or fail
it here; ``GET /task/{id}`` reads only this. Each state change is one Lua script, so it is
atomic, idempotent under redelivery, and emits its event and metrics in the same step.
"""
import json
import secrets
from dataclasses import dataclass

import orjson
import redis

from tasks import keys, metrics
from tasks import registry_scripts as scripts
from tasks.escalation import EscalationRules, rule_score
from tasks.messages import list_key
from tasks.queues import CHANNELS, PRIORITIES, queue_for

TASK_ID_PREFIX = "task_"
# The states the scripts write; "accepted" is only the word of POST /task's answer.
TASK_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")  # no worker will change these
DEAD_LETTER_SCAN = 200  # dead-letter ids read per round trip while filtering a page
DEAD_LETTER_SCAN_LIMIT = 20  # at most this many times a page's limit are read per request
RELEASE_ALL = 1e18  # a requeue cutoff later than any start time
# A customer's task index lives this long past TASK_TTL_SECONDS (see hold_customer_index).
CUSTOMER_INDEX_GRACE_SECONDS = 86400


def new_task_id() -> str:
    """An opaque, unguessable task id (128 random bits)."""
    return TASK_ID_PREFIX + secrets.token_hex(16)


@dataclass(frozen=True)
class NewTask:
    """A validated submission, about to be stored."""

    task_id: str
    channel: str
    priority: str
    fields: dict
    timeout_seconds: float | None = None
    idempotency_key: str | None = None  # the full Redis key, owner included


@dataclass(frozen=True)
class Acceptance:
    """A task the registry holds: new, or the earlier one behind the same Idempotency-Key."""

    task_id: str
    position: int | None  # 1 = next to be served; None for a replay
    replayed: bool = False


@dataclass(frozen=True)
class Refusal:
    """A task refused because the backlog reached its capacity; nothing was stored."""

    waiting: int


@dataclass(frozen=True)
class RecentCompletions:
    """Completions over the estimate window, as the registry counted them."""

    completed: float
    service_ms: float
    window_seconds: float

    def estimated_seconds(self, position: int | None) -> float | None:
        """Mean recent service time plus the tasks ahead at the recent completion rate.

        None when nothing completed within the window: there is nothing to measure from.
        """
        if position is None or self.completed <= 0 or self.window_seconds <= 0:
            return None
        service = self.service_ms / self.completed / 1000
        rate = self.completed / self.window_seconds
        return service + (position - 1) / rate


@dataclass(frozen=True)
class Claim:
    task_id: str
    outcome: str  # claimed, missing, expired, failed, or the status that made it not runnable
    text: str | None = None
    attempt: int = 0
    request_id: str | None = None  # the X-Request-ID of the request that submitted it


# Payloads of the hot scripts (accept, complete) and the results they store as written:
# compact (50 bytes less per tweet's result than json.dumps) and encoded by orjson, 6 times
# faster than json here. Their strings are valid UTF-8: the API refuses unpaired surrogates.
_compact_json = orjson.dumps


class TaskRegistry:
    """Task state in Redis; every method is one round trip."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, event_maxlen: int,
                 estimate_window_seconds: int, max_attempts: int,
                 idempotency_ttl_seconds: int = 86400, requeue_after_seconds: float = 30,
                 escalation: EscalationRules | None = None,
                 webhook_outbox_maxlen: int = 100_000,
                 customer_index_grace_seconds: int = CUSTOMER_INDEX_GRACE_SECONDS):
        self.client = client
        self.escalation = escalation or EscalationRules.defaults()
        self._config = json.dumps({
            "task": keys.TASK,
            "queued": keys.QUEUED,
            "processing": keys.PROCESSING,
            "claimed_upto": keys.CLAIMED_UPTO,
            "events": keys.EVENTS,
            "metrics": keys.METRICS,
            "dead": keys.DEAD,
            "paused_priorities": keys.PAUSED_PRIORITIES,
            "parked": keys.PARKED,
            "task_index": keys.TASK_INDEX,
            "customer_tasks": keys.CUSTOMER_TASKS,
            "awaited": keys.AWAITED,
            "task_finished": keys.task_finished(client),
            "customer_grace": customer_index_grace_seconds,
            "channels": CHANNELS,
            "priorities": PRIORITIES,
            "ttl": ttl_seconds,
            "maxlen": event_maxlen,
            "estimate_window": estimate_window_seconds,
            "max_attempts": max_attempts,
            "idempotency_ttl": idempotency_ttl_seconds,
            "requeue_after": requeue_after_seconds,
            "customer_history": keys.CUSTOMER_HISTORY,
            "escalation": self.escalation.config(),
            "webhook_events": keys.WEBHOOK_EVENTS,
            "outbox": keys.WEBHOOK_OUTBOX,
            "outbox_maxlen": webhook_outbox_maxlen,
            **metrics.config(),
        })
        self._accept = client.register_script(scripts.ACCEPT)
        self._claim = client.register_script(scripts.CLAIM)
        self._complete = client.register_script(scripts.COMPLETE)
        self._fail = client.register_script(scripts.FAIL)
        self._requeue = client.register_script(scripts.REQUEUE)
        self._retry = client.register_script(scripts.RETRY)
        self._cancel = client.register_script(scripts.CANCEL)
        self._park = client.register_script(scripts.PARK)
        self._pause = client.register_script(scripts.PAUSE)
        self._resume = client.register_script(scripts.RESUME)

    @classmethod
    def from_settings(cls, client: redis.Redis, config) -> "TaskRegistry":
        """A registry configured by ``settings.load()`` or a Flask config."""
        return cls(client, config["TASK_TTL_SECONDS"], config["EVENT_STREAM_MAXLEN"],
                   config["ESTIMATE_WINDOW_SECONDS"], config["MAX_ATTEMPTS"],
                   config["IDEMPOTENCY_TTL_SECONDS"], config["REQUEUE_AFTER_SECONDS"],
                   EscalationRules.from_settings(config), config["WEBHOOK_OUTBOX_MAXLEN"])

    def accept(self, tasks: list[NewTask], groups: list[tuple[str, str]],
               group_of: list[int], capacity: int = 0
               ) -> tuple[list[Acceptance | Refusal], RecentCompletions]:
        """Store new tasks and enqueue the messages of their groups, in one step.

        ``groups`` are (list key, Celery message) pairs; ``group_of[i]`` is the index of the
        group whose message names ``tasks[i]``. A group's message is enqueued only if one of
        its tasks was stored.
        """
        reply = self._accept(args=[self._config, _compact_json({
            "items": [{"id": t.task_id, "channel": t.channel, "priority": t.priority,
                       "timeout": t.timeout_seconds, "fields": t.fields,
                       "idempotency_key": t.idempotency_key, "group": group + 1}
                      for t, group in zip(tasks, group_of, strict=True)],
            "groups": groups, "capacity": capacity,
        })])
        *outcomes, (completed, service_ms, covered) = reply
        results: list[Acceptance | Refusal] = []
        for task, (outcome, value) in zip(tasks, outcomes, strict=True):
            if outcome == "accepted":
                results.append(Acceptance(task.task_id, int(value)))
            elif outcome == "duplicate":
                results.append(Acceptance(value, None, replayed=True))
            else:
                results.append(Refusal(int(value)))
        return results, RecentCompletions(float(completed), float(service_ms), float(covered))

    def claim(self, task_ids: list[str], worker: str) -> list[Claim]:
        """Mark tasks as processing by ``worker`` and return their texts; skip finished ones."""
        rows = self._claim(args=[self._config, worker, *task_ids])
        return [Claim(row[0], row[1], *row[2:]) for row in rows]

    def complete(self, results: dict[str, dict]) -> int:
        """Store results in one script run; returns how many tasks this completed.

        A task no longer processing (a redelivery) is left as it is. The script applies the
        escalation rules and records each task in its customer's history.
        """
        items = [[task_id, rule_score(result), result["sentiment"]]
                 for task_id, result in results.items()]
        return self._complete(args=[self._config, _compact_json(items),
                                    *(_compact_json(r)[:-1] for r in results.values())])

    def fail(self, task_id: str, code: str, message: str) -> bool:
        """End a task as failed with an error code; False when it had already ended."""
        return bool(self._fail(args=[self._config, task_id, code, message]))

    def stale_candidates(self, cutoff: float, per_list: int) -> dict[str, tuple[str, str]]:
        """Tasks the requeue sweep should look at, with their channel and priority.

        Those processing since before ``cutoff``, and the oldest few waiting on each list
        since before it: a lost message leaves its task the oldest on its list.
        """
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(keys.PROCESSING, "-inf", cutoff, start=0, num=per_list * 10)
            lists = [(c, p) for c in CHANNELS for p in PRIORITIES]
            for channel, priority in lists:
                pipe.zrangebyscore(keys.queued(channel, priority), "-inf", cutoff,
                                   start=0, num=per_list)
            processing, *waiting = pipe.execute()
        candidates = {task_id: route for route, ids in zip(lists, waiting, strict=True)
                      for task_id in ids}
        if candidates:  # a waiting id whose task expired would block its list's sweep
            with self.client.pipeline(transaction=False) as pipe:
                for task_id in candidates:
                    pipe.exists(keys.task(task_id))
                gone = [i for i, exists in zip(list(candidates), pipe.execute(), strict=True)
                        if not exists]
            for task_id in gone:
                self.client.zrem(keys.queued(*candidates.pop(task_id)), task_id)
        if processing:
            routes = self.routes(processing)
            candidates.update(routes)
            expired = [task_id for task_id in processing if task_id not in routes]
            if expired:  # their data expired while processing: nothing left to run
                self.client.zrem(keys.PROCESSING, *expired)
        return candidates

    def routes(self, task_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Channel and priority of each of ``task_ids`` that still exists."""
        with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.hmget(keys.task(task_id), "channel", "priority")
            rows = pipe.execute()
        return {task_id: (channel, priority)
                for task_id, (channel, priority) in zip(task_ids, rows, strict=True) if channel}

    def requeue(self, cutoff: float, messages: dict[str, tuple[str, str]]) -> list[str]:
        """Put back the tasks among ``messages`` that are stale, each with its message."""
        return self._requeue(args=[self._config, repr(cutoff), json.dumps(messages), "0"])

    def release(self, messages: dict[str, tuple[str, str]]) -> list[str]:
        """Put back processing tasks, each with its message, giving back their attempt."""
        return self._requeue(args=[self._config, repr(RELEASE_ALL), json.dumps(messages), "1"])

    def failed(self, matches, limit: int, before: float | None = None
               ) -> tuple[list[tuple[str, dict]], float | None]:
        """Failed tasks (the dead-letter set), newest first, that ``matches`` accepts.

        Returns up to ``limit`` (id, task) pairs and the cursor of the next page (or None).
        Ids whose task has expired are pruned from the set on the way.
        """
        found: list[tuple[str, dict]] = []
        upper = "+inf" if before is None else f"({before}"
        budget = limit * DEAD_LETTER_SCAN_LIMIT  # a request's time stays bounded
        while len(found) < limit and budget > 0:
            page = self.client.zrevrangebyscore(keys.DEAD, upper, "-inf", start=0,
                                                num=DEAD_LETTER_SCAN, withscores=True)
            if not page:
                return found, None
            with self.client.pipeline(transaction=False) as pipe:
                for task_id, _ in page:
                    pipe.hgetall(keys.task(task_id))
                tasks = pipe.execute()
            expired = [task_id for (task_id, _), task in zip(page, tasks, strict=True)
                       if not task]
            if expired:
                self.client.zrem(keys.DEAD, *expired)
            for (task_id, score), task in zip(page, tasks, strict=True):
                if task and matches(task):
                    found.append((task_id, task))
                    if len(found) == limit:
                        return found, score
            upper = f"({page[-1][1]}"
            budget -= len(page)
        return found, (page[-1][1] if budget <= 0 else None)

    def retry(self, messages: dict[str, tuple[str, str]]) -> list[str]:
        """Send failed tasks back to their queues, each with its message; returns those sent."""
        return self._retry(args=[self._config, json.dumps(messages)])

    def pause_priority(self, priority: str) -> int:
        """Stop workers taking ``priority``'s tasks on every channel; returns messages moved."""
        return self._pause(args=[self._config, priority, self._lists_of(priority)])

    def resume_priority(self, priority: str) -> int:
        """Give ``priority``'s set-aside messages back to the queues; returns how many."""
        return self._resume(args=[self._config, priority, self._lists_of(priority)])

    def paused_priorities(self) -> set[str]:
        return set(self.client.smembers(keys.PAUSED_PRIORITIES))

    def park(self, messages: list[tuple[str, str, str, str]]) -> None:
        """Enqueue (list key, message, channel, priority) messages, parked while paused."""
        self._park(args=[self._config, json.dumps(messages)])

    @staticmethod
    def _lists_of(priority: str) -> str:
        return json.dumps({channel: list_key(queue_for(channel), priority) for channel in CHANNELS})

    def cancel(self, task_id: str) -> str | None:
        """Cancel a waiting task; returns None, or the status that prevented it."""
        outcome = self._cancel(args=[self._config, task_id])
        return None if outcome == 1 else outcome

    def get(self, task_id: str) -> dict | None:
        """The stored task as a dict of strings, or None when unknown or expired."""
        if not task_id.startswith(TASK_ID_PREFIX):
            return None
        return self.client.hgetall(keys.task(task_id)) or None
