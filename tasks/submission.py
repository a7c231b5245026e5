"""Accepting a task: store it in the registry, then publish its Celery message."""
import logging

from celery import Celery

from tasks.queues import PRIORITY_STEPS, queue_for
from tasks.registry import Acceptance, TaskRegistry, new_task_id
from tasks.sentiment import TASK_NAME

logger = logging.getLogger(__name__)


def publish(celery: Celery, task_ids: list[str], channel: str, priority: str) -> None:
    """Send one Celery message naming ``task_ids`` to the channel's queue."""
    queue = queue_for(channel)
    # The nameless exchange routes by queue name alone: no binding lookup per publish, and
    # no binding key in Redis that a lost or flushed database could take with it.
    celery.send_task(
        TASK_NAME, args=[task_ids], queue=queue, exchange="", routing_key=queue,
        priority=PRIORITY_STEPS[priority],
        task_id=task_ids[0] if len(task_ids) == 1 else None,
    )


def submit(registry: TaskRegistry, celery: Celery, task_type: str, data: dict,
           owner: str) -> tuple[str, Acceptance]:
    """Accept one task; nothing is left behind when publishing fails."""
    task_id = new_task_id()
    fields = {"type": task_type, "channel": data["channel"], "text": data["text"],
              "owner": owner}
    if data.get("customer_id") is not None:
        fields["customer_id"] = data["customer_id"]
    if data.get("timeout") is not None:
        fields["timeout"] = data["timeout"]
    acceptance = registry.accept(task_id, data["priority"], fields, data.get("timeout"))
    try:
        publish(celery, [task_id], data["channel"], data["priority"])
    except Exception:
        registry.withdraw(task_id, data["priority"])
        raise
    return task_id, acceptance
