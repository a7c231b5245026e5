"""The delivery task: sign one event's body and POST it, retrying with backoff.

It runs on its own queue (``webhooks``) in its own worker (a thread pool: deliveries wait on
the network, not the CPU), so a slow or dead endpoint never holds up analysis. A retry is a
new message with a countdown (Celery's ``retry``), not a sleeping thread; and at most
``WEBHOOK_MAX_IN_FLIGHT_PER_HOST`` attempts to one host run at once (others wait their turn
as messages, not threads), so an endpoint that hangs cannot take every thread from the
deliveries to other receivers.
"""
import logging
import random
import time
from functools import lru_cache

import redis
from celery import shared_task

import settings
from tasks.connections import connect
from tasks.webhooks import addresses, sender, signing
from tasks.webhooks.store import WebhookStore

logger = logging.getLogger(__name__)

TASK_NAME = "webhooks.deliver"
QUEUE = "webhooks"
MAX_BACKOFF_SECONDS = 600  # well under the broker's visibility timeout (celery_app)
FIRST_DEFERRAL_SECONDS = 0.1


@lru_cache(maxsize=1)
def config() -> dict:
    return settings.load()


@lru_cache(maxsize=1)
def webhook_store() -> WebhookStore:
    return WebhookStore(connect(config()["REDIS_URL"]), config()["TASK_TTL_SECONDS"])


def backoff(attempt: int, base: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Seconds before attempt ``attempt + 1``: ``base * 2**(attempt-1)``, capped, the upper
    half of it jittered so retries to one receiver spread out."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def secret_for(store: WebhookStore, delivery: dict) -> str | None:
    """The subscription's secret, the owner's callback secret, or None (subscription gone)."""
    if delivery.get("webhook_id"):
        subscription = store.subscription(delivery["webhook_id"])
        return subscription["secret"] if subscription else None
    return store.callback_secret(delivery.get("owner") or "")


def headers(delivery: dict, secret: str, body: bytes, attempt: int) -> dict:
    return {signing.HEADER: signing.header(secret, body),
            "X-Webhook-Id": delivery["event_id"],
            "X-Webhook-Event": delivery["kind"],
            "X-Webhook-Attempt": str(attempt)}


def attempt_once(store: WebhookStore, delivery: dict, secret: str, attempt: int,
                 options: dict) -> tuple[sender.Answer, bool]:
    """POST once; returns the answer and whether another attempt may help."""
    body = delivery["body"].encode()
    try:
        return sender.post(delivery["url"], body, headers(delivery, secret, body, attempt),
                           options["WEBHOOK_TIMEOUT_SECONDS"],
                           options["WEBHOOK_ALLOW_PRIVATE"]), True
    except addresses.URLRefused as exc:  # the name now points inside: never call it
        return sender.Answer(None, f"refused: {exc}", 0.0), exc.transient


# A Redis error (secrets, slots, the log) sends the same attempt again later, never drops it;
# should the POST itself have gone through, the receiver sees the event twice (same id).
@shared_task(name=TASK_NAME, bind=True, acks_late=True, max_retries=None,
             autoretry_for=(redis.RedisError,), retry_backoff=True, retry_backoff_max=60,
             retry_jitter=True)
def deliver(self, delivery: dict) -> str:
    """One attempt of one delivery; logs it, then retries later or ends."""
    options = config()
    store = webhook_store()
    attempt = delivery.get("attempt", 1)
    secret = secret_for(store, delivery)
    if secret is None:
        logger.info("webhook %s deleted: delivery %s dropped", delivery["webhook_id"],
                    delivery["id"])
        return "dropped"
    timeout = options["WEBHOOK_TIMEOUT_SECONDS"]
    host = addresses.parse(delivery["url"]).host_header.lower()
    if not store.acquire_slot(host, delivery["id"], options["WEBHOOK_MAX_IN_FLIGHT_PER_HOST"],
                              hold_seconds=2 * timeout + 5):
        # The host has its share of threads already: wait as a message, not an attempt,
        # briefly at first (a busy but quick host frees a slot in milliseconds), then up to
        # a timeout (a hanging host frees one only then).
        deferrals = delivery.get("deferrals", 0)
        countdown = min(timeout, FIRST_DEFERRAL_SECONDS * 2 ** deferrals)
        raise self.retry(args=[{**delivery, "deferrals": deferrals + 1}],
                         countdown=countdown * random.uniform(0.5, 1.0))
    try:
        answer, retry = attempt_once(store, delivery, secret, attempt, options)
    finally:
        store.release_slot(host, delivery["id"])
    if answer.delivered:
        outcome = "delivered"
    elif retry and attempt < options["WEBHOOK_MAX_ATTEMPTS"]:
        outcome = "retrying"
    else:
        outcome = "failed"
    delay = backoff(attempt, options["WEBHOOK_BACKOFF_SECONDS"]) \
        if outcome == "retrying" else None
    store.log_attempt(delivery, {
        "delivery_id": delivery["id"], "event": delivery["kind"],
        "event_id": delivery["event_id"], "task_id": delivery["task_id"],
        "url": delivery["url"], "attempt": attempt, "at": time.time(),
        "status_code": answer.status, "error": answer.error,
        "duration_ms": answer.duration_ms, "outcome": outcome,
        "next_attempt_in_seconds": None if delay is None else round(delay, 3)})
    if outcome == "retrying":
        raise self.retry(args=[{**delivery, "attempt": attempt + 1, "deferrals": 0}],
                         countdown=delay)
    if outcome == "failed":
        logger.warning("delivery %s to %s failed after %d attempts: %s", delivery["id"],
                       delivery["url"], attempt, answer.error)
    return outcome
