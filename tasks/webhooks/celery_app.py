"""The webhook worker's Celery app: the delivery task, its queue and the outbox dispatcher.

A Celery app of its own, so the analysis workers' settings (no prefetch, heartbeats, the
requeue sweep, paused channels) stay theirs. Run it with a thread pool::

    celery --app tasks.webhooks.celery_app worker --pool threads --queues webhooks
"""
from celery import Celery

from tasks.webhooks.delivery import MAX_BACKOFF_SECONDS, QUEUE
from tasks.webhooks.dispatcher import OutboxDispatch

# An hour: well above the longest wait for a retry.
VISIBILITY_TIMEOUT_SECONDS = 6 * MAX_BACKOFF_SECONDS


def make_webhook_celery(broker_url: str | None = None) -> Celery:
    app = Celery("sentiment-webhooks", include=["tasks.webhooks.delivery"])
    app.config_from_object("celeryconfig")
    app.conf.update(
        task_default_queue=QUEUE,
        # Waiting retries are held by the worker until due (ETA); consuming must not stop
        # for them, so the analysis workers' no-prefetch rule does not apply here.
        worker_disable_prefetch=False,
        worker_prefetch_multiplier=1,
        # A thread pool enforces no time limits; each request has its own timeout.
        task_soft_time_limit=None,
        task_time_limit=None,
        # A waiting retry is an unacknowledged message in the worker's hands, which no
        # registry sweep brings back: kombu's ack emulation keeps a copy in Redis, restored
        # after the visibility timeout if the worker dies.
        broker_transport_options={**app.conf.broker_transport_options,
                                  "ack_emulation": True,
                                  "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
    )
    app.steps["worker"].add(OutboxDispatch)
    if broker_url:
        app.conf.broker_url = broker_url
    return app


app = make_webhook_celery()
