"""Webhook routes: operators subscribe URLs to task events and read the delivery attempts."""
from flask import Blueprint, current_app, g, url_for

from app.auth import require_operator
from app.errors import APIError
from app.extensions import webhook_store
from app.formatting import timestamp
from app.tasks import visible_task
from app.url_safety import refuse_unsafe
from app.validation import load
from tasks import keys
from tasks.webhooks.store import SubscriptionLimit

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks")
def subscribe():
    """Subscribe a URL to task events (operator token); the secret is shown only here.

    Request: ``{"url": "https://example.com/hooks", "events": ["task.completed",
    "task.failed", "task.escalated"], "description": "CRM"}``

    Response 201: ``{"id": "wh_...", "url": "...", "events": [...], "description": "CRM",
    "created_at": "...", "secret": "whsec_..."}``
    """
    require_operator()
    body = load(current_app.extensions["webhook_subscription_schema"])
    refuse_unsafe(body["url"], "url")
    try:
        subscription = webhook_store().subscribe(body["url"], body["events"],
                                                 body["description"])
    except SubscriptionLimit:
        raise APIError("WEBHOOK_LIMIT", "Delete a subscription before adding one.") from None
    location = url_for("webhooks.list_deliveries", webhook_id=subscription["id"])
    return {**present(subscription), "secret": subscription["secret"]}, 201, \
        {"Location": location}


@bp.get("/webhooks")
def list_webhooks():
    """Every subscription, oldest first, without secrets (operator token).

    Response 200: ``{"webhooks": [{"id": "wh_...", "url": "...", "events": [...], ...}],
    "outbox_length": 0}``
    """
    require_operator()
    store = webhook_store()
    return {"webhooks": [present(s) for s in store.subscriptions()],
            "outbox_length": store.outbox_length()}


@bp.delete("/webhooks/<webhook_id>")
def unsubscribe(webhook_id: str):
    """Delete a subscription and its delivery log (operator token); pending retries stop.

    Response 200: ``{"id": "wh_...", "status": "deleted"}``
    """
    require_operator()
    if not webhook_store().unsubscribe(webhook_id):
        raise not_found(webhook_id)
    return {"id": webhook_id, "status": "deleted"}


@bp.get("/webhooks/<webhook_id>/deliveries")
def list_deliveries(webhook_id: str):
    """The subscription's delivery attempts, newest first (operator token).

    Response 200: ``{"webhook_id": "wh_...", "deliveries": [{"delivery_id": "...",
    "event": "task.completed", "attempt": 1, "status_code": 500, "error": "HTTP 500",
    "duration_ms": 3.1, "outcome": "retrying", ...}]}``
    """
    require_operator()
    store = webhook_store()
    if store.subscription(webhook_id) is None:
        raise not_found(webhook_id)
    attempts = store.attempts(keys.webhook_deliveries(webhook_id))
    return {"webhook_id": webhook_id, "deliveries": [present_attempt(a) for a in attempts]}


@bp.get("/task/<task_id>/deliveries")
def task_deliveries(task_id: str):
    """The attempts to deliver this task's outcome to its ``callback_url``, newest first.

    Response 200: ``{"task_id": "task_...", "callback_url": "...", "deliveries": [...]}``
    """
    task = visible_task(task_id)
    attempts = webhook_store().attempts(keys.task_deliveries(task_id))
    return {"task_id": task_id, "callback_url": task.get("callback_url"),
            "deliveries": [present_attempt(a) for a in attempts]}


@bp.get("/callbacks/secret")
def callback_secret():
    """The secret that signs the callbacks of this token's tasks (any token).

    Response 200: ``{"secret": "whsec_..."}``
    """
    return {"secret": webhook_store().callback_secret(g.principal.id)}


@bp.post("/callbacks/secret")
def rotate_callback_secret():
    """A new callback secret for this token; deliveries from now on are signed with it.

    Response 200: ``{"secret": "whsec_..."}``
    """
    return {"secret": webhook_store().rotate_callback_secret(g.principal.id)}


def not_found(webhook_id: str) -> APIError:
    return APIError("WEBHOOK_NOT_FOUND", "No such webhook subscription.",
                    {"webhook_id": webhook_id})


def present(subscription: dict) -> dict:
    return {"id": subscription["id"], "url": subscription["url"],
            "events": subscription["events"], "description": subscription.get("description"),
            "created_at": timestamp(subscription["created_at"])}


def present_attempt(attempt: dict) -> dict:
    return {**attempt, "at": timestamp(attempt["at"])}
