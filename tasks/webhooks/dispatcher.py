"""The outbox dispatcher: outbox entries become delivery tasks, none lost on the way.

The registry's scripts append an event to the outbox stream in the same atomic step that
records it, so an event exists as soon as the task's state does. The dispatcher reads the
stream with a consumer group, publishes one delivery task per target, and only then
acknowledges (and deletes) the entry. A dispatcher that dies in between leaves its entries
pending; any dispatcher claims them back after ``CLAIM_IDLE_MS`` (``XAUTOCLAIM``) and
publishes them again, so a delivery may be sent twice, never not at all: receivers drop
repeats by the body's ``id`` (``X-Webhook-Id``).
"""
import logging
import threading
import time

import redis
from celery import bootsteps

from tasks import keys
from tasks.webhooks.delivery import QUEUE, TASK_NAME
from tasks.webhooks.events import deliveries
from tasks.webhooks.store import WebhookStore

logger = logging.getLogger(__name__)

BLOCK_MS = 1000  # below the client's socket timeout (tasks.connections)
READ_COUNT = 100
CLAIM_IDLE_MS = 60_000  # an entry pending this long belonged to a dispatcher that died
CLAIM_EVERY_SECONDS = 15


class Dispatcher:
    """Reads the outbox as one consumer of its group and publishes the deliveries."""

    def __init__(self, store: WebhookStore, publish, consumer: str,
                 claim_idle_ms: int = CLAIM_IDLE_MS):
        self.store = store
        self.claim_idle_ms = claim_idle_ms
        self.client = store.client
        self.publish = publish  # publish(delivery dict)
        self.consumer = consumer
        self._claimed_at = 0.0

    def ensure_group(self) -> None:
        """The consumer group, reading from the stream's start: nothing written before the
        first dispatcher ever ran is skipped."""
        try:
            self.client.xgroup_create(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_OUTBOX_GROUP, id="0",
                                      mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run_once(self, block_ms: int = BLOCK_MS) -> int:
        """Dispatch one batch; returns how many outbox entries it handled."""
        entries = self._reclaim()
        if not entries:
            reply = self.client.xreadgroup(keys.WEBHOOK_OUTBOX_GROUP, self.consumer,
                                           {keys.WEBHOOK_OUTBOX: ">"}, count=READ_COUNT,
                                           block=block_ms)
            entries = reply[0][1] if reply else []
        if not entries:
            return 0
        subscriptions = self.store.subscriptions()
        for entry_id, fields in entries:
            if fields:  # an entry trimmed while pending comes back empty: nothing to send
                for delivery in deliveries({**fields, "outbox_id": entry_id}, subscriptions):
                    self.publish(delivery)
        done = [entry_id for entry_id, _ in entries]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_OUTBOX_GROUP, *done)
            pipe.xdel(keys.WEBHOOK_OUTBOX, *done)
            pipe.execute()
        return len(entries)

    def _reclaim(self) -> list:
        now = time.monotonic()
        if now - self._claimed_at < CLAIM_EVERY_SECONDS:
            return []
        self._claimed_at = now
        reply = self.client.xautoclaim(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_OUTBOX_GROUP,
                                       self.consumer, self.claim_idle_ms, count=READ_COUNT)
        claimed = reply[1] if reply else []
        if claimed:
            logger.warning("claimed %d outbox entries a dispatcher left pending", len(claimed))
        return claimed


class OutboxDispatch(bootsteps.StartStopStep):
    """Runs a ``Dispatcher`` on a thread of the webhook worker's main process."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, worker):
        from tasks.webhooks.delivery import webhook_store

        app = worker.app

        def publish(delivery: dict) -> None:
            app.send_task(TASK_NAME, args=[delivery], queue=QUEUE)

        dispatcher = Dispatcher(webhook_store(), publish, worker.hostname)
        self.thread = threading.Thread(target=self._run, args=(dispatcher,),
                                       name="sp-webhook-dispatcher", daemon=True)
        self.thread.start()

    def _run(self, dispatcher: Dispatcher) -> None:
        failing = False
        while not self.stopping.is_set():
            try:
                dispatcher.ensure_group()
                while not self.stopping.is_set():
                    dispatcher.run_once()
                    failing = False
            except (redis.RedisError, OSError) as exc:  # kombu's errors are OSErrors too
                if not failing:
                    logger.warning("webhook dispatcher paused: %s", exc)
                failing = True
                self.stopping.wait(1)
            except Exception:  # a bug must not end deliveries for good
                logger.exception("webhook dispatcher error")
                self.stopping.wait(1)

    def stop(self, worker):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(BLOCK_MS / 1000 + 5)
