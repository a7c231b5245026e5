"""Accepting a task: the registry stores it and enqueues its Celery message in one step."""
from celery import Celery

from tasks import keys
from tasks.messages import analyse_message
from tasks.registry import Acceptance, TaskRegistry, new_task_id


def submit(registry: TaskRegistry, celery: Celery, task_type: str, data: dict, owner: str,
           idempotency_key: str | None = None, capacity: int = 0) -> Acceptance:
    """Accept one task, or return the one accepted earlier under the same idempotency key."""
    task_id = new_task_id()
    fields = {"type": task_type, "channel": data["channel"], "text": data["text"],
              "owner": owner}
    if data.get("customer_id") is not None:
        fields["customer_id"] = data["customer_id"]
    if data.get("timeout") is not None:
        fields["timeout"] = data["timeout"]
    return registry.accept(
        task_id, data["priority"], fields,
        analyse_message(celery, [task_id], data["channel"], data["priority"]),
        timeout_seconds=data.get("timeout"),
        idempotency_key=keys.idempotency(owner, idempotency_key) if idempotency_key else None,
        capacity=capacity)
