"""The requeue sweep: tasks whose worker died mid-task go back to their queue.

When a whole worker dies (SIGKILL, power loss) or loses Redis, the messages it held are
gone with it (kombu's ack emulation is off, see ``celeryconfig``). Like RQ's started-job
registry, every worker runs this sweep; a Redis lock lets one sweep run per interval across
all of them. A task still processing ``REQUEUE_AFTER_SECONDS`` after it started (longer
than the hard time limit allows), or still waiting that long while its list moved past it,
is put back with a fresh message (the rules are in ``tasks.registry_scripts.REQUEUE``). The
registry's claim is idempotent and counts the attempt, so a duplicate message is harmless.
"""
import logging

import redis
from celery import Celery, bootsteps

import settings
from tasks import keys
from tasks.connections import redis_now
from tasks.messages import analyse_message
from tasks.registry import TaskRegistry

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 5.0
SWEEP_BATCH = 20  # waiting tasks looked at per list and sweep; a lost one is the oldest


def sweep(registry: TaskRegistry, celery: Celery, requeue_after: float, holder: str) -> list[str]:
    """Requeue the stale tasks, unless another worker swept within the interval."""
    client = registry.client
    if not client.set(keys.REAPER_LOCK, holder, nx=True,
                      px=int(SWEEP_INTERVAL_SECONDS * 1000)):
        return []
    cutoff = redis_now(client) - requeue_after  # the registry's clock stamps the tasks
    candidates = registry.stale_candidates(cutoff, per_list=SWEEP_BATCH)
    if not candidates:
        return []
    messages = {task_id: analyse_message(celery, [task_id], channel, priority)
                for task_id, (channel, priority) in candidates.items()}
    requeued = registry.requeue(cutoff, messages)
    if requeued:
        logger.warning("requeued %d tasks whose worker or message was lost", len(requeued))
    return requeued


class RequeueSweep(bootsteps.StartStopStep):
    """Runs ``sweep`` on the worker's timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_entry = None

    def start(self, worker):
        from tasks.sentiment import worker_registry
        requeue_after = settings.get("REQUEUE_AFTER_SECONDS")

        def run():
            try:
                sweep(worker_registry(), worker.app, requeue_after, worker.hostname)
            except redis.RedisError as exc:  # Redis away: the next sweep tries again
                logger.info("requeue sweep skipped: %s", exc)

        self.timer_entry = worker.timer.call_repeatedly(SWEEP_INTERVAL_SECONDS, run)

    def stop(self, worker):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
