"""The Celery task: claim tasks in the registry, analyse their texts, store the results.

A message carries task ids only; the texts live in the registry, which makes a redelivered
or re-published message harmless: the registry says what is still to do.
"""
import logging
import time
from functools import lru_cache

import redis
from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init

import settings
from tasks import analysis
from tasks.connections import connect
from tasks.registry import TaskRegistry

logger = logging.getLogger(__name__)

TASK_NAME = "sentiment.analyse"
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


def analyse_one(text: str) -> dict:
    """The stored result of one text: VADER's analysis and how long it took here."""
    started = time.perf_counter()
    result = analysis.analyse(text)
    result["processing_time_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


# Redis errors are transient: retry with exponential backoff and jitter, capped well under
# the broker's visibility timeout (a retry waits unacknowledged in a worker).
@shared_task(name=TASK_NAME, bind=True, acks_late=True,
             autoretry_for=(redis.ConnectionError, redis.TimeoutError),
             retry_backoff=True, retry_backoff_max=30, retry_jitter=True, max_retries=20)
def analyse_tasks(self, task_ids: list[str]) -> int:
    """Analyse the registry's tasks named in this message; returns how many completed."""
    registry = worker_registry()
    completed = 0
    claims = [c for c in registry.claim(task_ids, self.request.hostname or "unknown")
              if c.outcome == "claimed"]
    for index, claim in enumerate(claims):
        try:
            result = analyse_one(claim.text or "")
        except SoftTimeLimitExceeded:
            for late in claims[index:]:
                registry.fail(late.task_id, "TASK_TIMEOUT",
                              "the analysis exceeded the task time limit")
            return completed
        except Exception as exc:  # a bad text must fail its task, not the whole message
            logger.exception("analysis of task %s failed", claim.task_id)
            registry.fail(claim.task_id, "ANALYSIS_FAILED", type(exc).__name__)
            continue
        completed += registry.complete(claim.task_id, result)
    return completed
