"""The Celery application: the workers' own, and one per API app to publish with."""
from celery import Celery

from tasks import gc_freeze, solo_time_limit, worker_logging  # noqa: F401  (Celery signals)
from workers import heartbeat, priorities
from workers.niceness import YieldToUrgentWork
from workers.pausing import FollowPausedChannels
from workers.reaper import RequeueSweep


def make_celery(broker_url: str | None = None) -> Celery:
    """A Celery app configured by ``celeryconfig``, optionally on another broker."""
    app = Celery("sentiment", include=["tasks.sentiment"])
    app.config_from_object("celeryconfig")
    app.steps["worker"].add(RequeueSweep)
    app.steps["worker"].add(YieldToUrgentWork)
    app.steps["consumer"].add(FollowPausedChannels)
    heartbeat.install(app)  # worker state pushed to Redis; adds --platform-id
    priorities.install(app)  # adds --priorities
    if broker_url:
        app.conf.broker_url = broker_url
    return app


celery_app = make_celery()
