"""The Celery task: claim tasks in the registry, analyse their texts, store the results.

A message carries task ids only; the texts live in the registry, which makes a redelivered
or re-published message harmless: the registry says what is still to do.
"""
import itertools
import logging
import random
import time
from functools import lru_cache

import redis
from celery import shared_task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import worker_init

import settings
from tasks import analysis
from tasks.connections import connect
from tasks.escalation import EscalationRules
from tasks.messages import TASK_NAME, analyse_message
from tasks.registry import TaskRegistry

logger = logging.getLogger(__name__)

TASK_TYPES = ("sentiment_analysis",)


@lru_cache(maxsize=1)
def worker_registry() -> TaskRegistry:
    """The registry of this worker process, configured from the environment."""
    config = settings.load()
    return TaskRegistry.from_settings(connect(config["REDIS_URL"]), config)


@worker_init.connect
def _load_lexicon(**_) -> None:
    """Load VADER's lexicon in the worker's main process, before the pool forks."""
    analysis.polarity_scores("warm up")


@worker_init.connect
def _check_escalation_settings(**_) -> None:
    """Refuse to start with escalation settings the rules cannot use."""
    try:
        EscalationRules.from_settings(settings.load())
    except ValueError as exc:  # an Exception in a signal handler would only be logged
        raise SystemExit(f"invalid escalation settings: {exc}") from exc


def analyse_one(text: str) -> dict:
    """The stored result of one text: VADER's analysis and how long it took here."""
    started = time.perf_counter()
    result = analysis.analyse(text)
    result["processing_time_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


# Redis errors are retried inside the task, with exponential backoff and jitter, for as
# long as the soft time limit leaves room. Celery's own retry would publish a new message,
# which fails too while Redis is away, and then drop the original.
REDIS_RETRY_BUDGET_SECONDS = 10
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def with_redis_retry(operation, *args, budget: float = REDIS_RETRY_BUDGET_SECONDS):
    """Run a registry operation, retrying Redis errors until ``budget`` seconds have passed.

    Gives up with ``Reject(requeue=True)``: the message goes back to its queue or, if Redis
    is still away, stays unacknowledged until the broker redelivers it.
    """
    deadline = time.monotonic() + budget
    for attempt in itertools.count():
        try:
            return operation(*args)
        except REDIS_ERRORS as exc:
            delay = min(0.1 * 2 ** attempt, 2.0) * random.uniform(0.5, 1.0)
            if time.monotonic() + delay > deadline:
                raise Reject(exc, requeue=True) from exc
            logger.warning("Redis unavailable (%s); retrying in %.2fs", exc, delay)
            time.sleep(delay)


@shared_task(name=TASK_NAME, bind=True, acks_late=True)
def analyse_tasks(self, task_ids: list[str]) -> int:
    """Analyse the registry's tasks named in this message; returns how many completed."""
    registry = worker_registry()
    worker = self.request.hostname or "unknown"
    started = time.perf_counter()
    rows = with_redis_retry(registry.claim, task_ids, worker)
    paused = [c.task_id for c in rows if c.outcome == "paused"]
    if paused:
        park(registry, self.app, paused)
    claims = [c for c in rows if c.outcome == "claimed"]
    if len(claims) > 1 and any(claim.attempt > 1 for claim in claims):
        # This group's message came back: a worker died on it. Send each task on in a
        # message of its own, so only a task that kills workers uses up its attempts.
        release(registry, self.app, claims)
        log_message("released to run one per message", claims, rows, started)
        return 0
    results, failed = {}, 0
    per_task = logger.isEnabledFor(logging.DEBUG)  # per-task lines only when asked for
    for index, claim in enumerate(claims):
        ids = task_ids_of(claim)
        if per_task:
            logger.debug("task %s started (attempt %d)", claim.task_id, claim.attempt, extra=ids)
        try:
            results[claim.task_id] = analyse_one(claim.text or "")
        except SoftTimeLimitExceeded:
            completed = with_redis_retry(registry.complete, results) if results else 0
            if len(claims) == 1:
                with_redis_retry(registry.fail, claim.task_id, "TASK_TIMEOUT",
                                 "the analysis exceeded the task time limit")
                logger.warning("task %s failed: TASK_TIMEOUT", claim.task_id, extra=ids)
            else:  # the group ran long, not necessarily one text: each gets its own time
                release(registry, self.app, claims[index:])
                logger.warning("message ran past the soft time limit; %d tasks released "
                               "to run one per message", len(claims) - index,
                               extra={"task_ids": [c.task_id for c in claims[index:]]})
            log_message("analysed", claims[:index], rows, started, completed=completed,
                        failed=failed)
            return completed
        except Exception as exc:  # a bad text must fail its task, not the whole message
            logger.exception("task %s failed: ANALYSIS_FAILED", claim.task_id, extra=ids)
            with_redis_retry(registry.fail, claim.task_id, "ANALYSIS_FAILED",
                             type(exc).__name__)
            failed += 1
            continue
        if per_task:
            logger.debug("task %s completed: %s", claim.task_id,
                         results[claim.task_id]["sentiment"], extra=ids)
    completed = with_redis_retry(registry.complete, results) if results else 0
    log_message("analysed", claims, rows, started, completed=completed, failed=failed)
    return completed


def task_ids_of(claim) -> dict:
    """The ids a log line about one task carries."""
    return {"task_id": claim.task_id, "request_id": claim.request_id}


def log_message(what: str, claims: list, rows: list, started: float, **counts) -> None:
    """One INFO line per message: its tasks' ids and the requests that submitted them.

    ``request_id`` and ``task_id`` appear as such when the message holds one of each, so a
    search for one request finds a single submission's line either way; ``request_ids``
    lists them all (a grouped message can carry several requests' tasks).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    request_ids = list(dict.fromkeys(c.request_id for c in claims if c.request_id))
    fields = {"task_ids": [c.task_id for c in claims], "request_ids": request_ids,
              "duration_ms": round((time.perf_counter() - started) * 1000, 3), **counts}
    if len(request_ids) == 1:
        fields["request_id"] = request_ids[0]
    if len(claims) == 1:
        fields["task_id"] = claims[0].task_id
    not_run = [row for row in rows if row.outcome != "claimed"]
    if not_run:  # finished, cancelled, expired or busy elsewhere: nothing to analyse
        fields["not_run"] = {row.task_id: row.outcome for row in not_run}
    outcome = "".join(f", {n} {name}" for name, n in counts.items())
    logger.info("%s %d tasks%s", what, len(claims), outcome, extra=fields)


def release(registry: TaskRegistry, celery, claims) -> None:
    """Put claimed tasks back in their queue, each in a message of its own."""
    routes = registry.routes([claim.task_id for claim in claims])
    messages = {task_id: analyse_message(celery, [task_id], channel, priority)
                for task_id, (channel, priority) in routes.items()}
    with_redis_retry(registry.release, messages)


def park(registry: TaskRegistry, celery, task_ids: list[str]) -> None:
    """Set aside tasks whose priority was paused after their message left the queue."""
    by_route: dict[tuple[str, str], list[str]] = {}
    for task_id, route in with_redis_retry(registry.routes, task_ids).items():
        by_route.setdefault(route, []).append(task_id)
    with_redis_retry(registry.park, [(*analyse_message(celery, ids, *route), *route)
                                     for route, ids in by_route.items()])
