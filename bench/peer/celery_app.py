"""The peer's Celery app and its one task: analyse one text, return the result."""
import os

from celery import Celery

from tasks.analysis import analyse

TASK_NAME = "peer.analyse"
DEFAULT_URL = "redis://127.0.0.1:6379/1"
# Celery on Redis: 0 is served first; kombu's default steps are 0, 3, 6, 9.
PRIORITIES = {"high": 0, "normal": 3, "low": 6}


def analyse_message(text: str) -> dict:
    """The task body: VADER's analysis of one message."""
    return analyse(text)


def make_celery(url: str | None = None) -> Celery:
    """A Celery app with Redis as broker and result backend, and the one task registered."""
    url = url or os.environ.get("REDIS_URL", DEFAULT_URL)
    app = Celery("peer", broker=url, backend=url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Celery's documentation for priorities on Redis: serve the lowest step first, and
        # prefetch one message per process so a queued high one is not stuck behind others.
        broker_transport_options={"queue_order_strategy": "priority"},
        worker_prefetch_multiplier=1,
    )
    app.task(name=TASK_NAME)(analyse_message)
    return app


celery = make_celery()
