"""Which events go to whom, and the body each receiver gets: pure functions, no I/O."""
import json
from datetime import UTC, datetime

from tasks.webhooks.store import CALLBACK_EVENT_TYPES

# Event fields that are the platform's bookkeeping, not news for a receiver.
INTERNAL_FIELDS = ("type", "at", "worker", "owner")


def timestamp(epoch: float | None) -> str | None:
    """ISO 8601 UTC, as the API writes times."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), tz=UTC).isoformat(timespec="milliseconds")


def kind_of(event: dict) -> str | None:
    """The webhook event type of a registry event, or None when webhooks ignore it.

    Escalations arrive as ``{"type": "escalation", "task_id", "channel", "priority",
    "customer_id", "reasons", ...}`` (issue 7's escalation rules); task changes as
    ``{"task_id", "status", ...}``.
    """
    if event.get("type") == "escalation":
        return "task.escalated"
    return {"completed": "task.completed", "failed": "task.failed"}.get(event.get("status"))


def payload(event_id: str, kind: str, event: dict) -> dict:
    """The JSON body of a delivery: the event's type, id and time, then the event itself.

    ``id`` is the event's id in ``sp:events`` (the ``id`` of ``/tasks/updates``), the same
    for every attempt and every receiver: a receiver drops what it has already seen.
    """
    body = {"id": event_id, "type": kind, "timestamp": timestamp(event.get("at"))}
    body.update({k: v for k, v in event.items() if k not in INTERNAL_FIELDS})
    return body


def deliveries(entry: dict, subscriptions: list[dict]) -> list[dict]:
    """One delivery per target of an outbox entry: each subscription that wants its type,
    and the task's ``callback_url``."""
    event = json.loads(entry["event"])
    kind = entry.get("kind") or kind_of(event)
    if kind is None:
        return []
    event_id = entry.get("event_id") or entry["outbox_id"]
    body = json.dumps(payload(event_id, kind, event), separators=(",", ":"))
    common = {"event_id": event_id, "kind": kind, "task_id": event.get("task_id"),
              "owner": entry.get("owner") or None, "body": body}
    found = [{**common, "id": f"{event_id}:{subscription['id']}", "url": subscription["url"],
              "webhook_id": subscription["id"]}
             for subscription in subscriptions if kind in subscription["events"]]
    if entry.get("callback") and kind in CALLBACK_EVENT_TYPES:
        found.append({**common, "id": f"{event_id}:callback", "url": entry["callback"],
                      "webhook_id": None})
    return found
