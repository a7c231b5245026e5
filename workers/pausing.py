"""Paused channels: every worker stops consuming a paused channel's queue, and resumes it.

Operators pause a channel by adding it to one Redis set (``keys.PAUSED``). Each worker reads
the set every ``FOLLOW_SECONDS`` on its consumer's timer, the consumer's own thread, where
cancelling and adding a queue is safe. Submissions are still accepted: the tasks wait in
their queue until the channel is resumed. Workers started later follow the set the same way.
"""
import logging

import redis
from celery import bootsteps

from tasks import keys

logger = logging.getLogger(__name__)

FOLLOW_SECONDS = 1.0


def paused_channels(client: redis.Redis) -> set[str]:
    """The channels paused right now."""
    return set(client.smembers(keys.PAUSED))


class FollowPausedChannels(bootsteps.StartStopStep):
    """Cancels the consumer of a paused channel's queue; adds it back once resumed."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, consumer, **kwargs):
        super().__init__(consumer, **kwargs)
        self.timer_entry = None

    def start(self, consumer):
        from tasks.queues import CHANNELS, queue_for
        from tasks.sentiment import worker_registry
        selected = consumer.app.amqp.queues.consume_from or {}
        own = [queue_for(c) for c in CHANNELS if queue_for(c) in selected]  # its -Q queues

        cancelled: set[str] = set()  # the queues this step stopped, and may add back

        def follow():
            try:
                paused = {queue_for(c) for c in paused_channels(worker_registry().client)}
            except redis.RedisError as exc:  # keep the current state until Redis answers
                logger.info("paused channels not read: %s", exc)
                return
            for queue in own:
                if queue in paused and queue not in cancelled:
                    logger.info("channel %s paused: no longer consuming its queue", queue)
                    consumer.cancel_task_queue(queue)
                    cancelled.add(queue)
                elif queue not in paused and queue in cancelled:
                    logger.info("channel %s resumed", queue)
                    consumer.add_task_queue(queue)
                    cancelled.discard(queue)

        # At start too: cancelling drops the queue from the consumer before it consumes, so
        # a worker started during a pause never takes a paused channel's task.
        follow()
        self.timer_entry = consumer.timer.call_repeatedly(FOLLOW_SECONDS, follow)

    def stop(self, consumer):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
