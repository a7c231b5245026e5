"""Webhook state in Redis, shared by every API process and webhook worker.

Subscriptions are one hash (id -> JSON) plus the set of event types any of them wants,
which the registry's scripts read to decide whether an event goes to the outbox; one script
changes both, so they never disagree. Callback secrets are one per token. Each delivery
attempt is logged on a bounded, expiring list: per subscription, and per task for callbacks.
"""
import json
import secrets
import time

import redis

from tasks import keys

EVENT_TYPES = ("task.completed", "task.failed", "task.escalated")
CALLBACK_EVENT_TYPES = ("task.completed", "task.failed")  # what a callback_url is told
MAX_SUBSCRIPTIONS = 100  # the dispatcher reads them all for each batch of events
DELIVERY_LOG_LENGTH = 100  # attempts kept per subscription or task, newest first
DELIVERY_LOG_TTL_SECONDS = 7 * 86400
WEBHOOK_ID_PREFIX = "wh_"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)

# KEYS[1] subscriptions, KEYS[2] subscribed event types. ARGV[1] id, ARGV[2] the
# subscription's JSON ('' deletes it), ARGV[3] most subscriptions. Returns 1 when done, 0 for
# an unknown id, -1 at the limit. The set of event types is rebuilt from what remains.
SAVE = """
if ARGV[2] == '' then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
else
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('DEL', KEYS[2])
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  for _, event in ipairs(cjson.decode(value).events) do redis.call('SADD', KEYS[2], event) end
end
return 1
"""


# KEYS[1] a host's attempts in flight. ARGV[1] delivery id, ARGV[2] the most at once,
# ARGV[3] seconds after which an attempt counts as ended (its worker died holding it).
# Returns 1 when the attempt may start now.
ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
return 1
"""


class SubscriptionLimit(Exception):
    """MAX_SUBSCRIPTIONS exist already."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookStore:
    """Subscriptions, callback secrets and delivery logs; each method one round trip or two."""

    def __init__(self, client: redis.Redis, task_ttl_seconds: int):
        self.client = client
        self.task_ttl_seconds = task_ttl_seconds
        self._save = client.register_script(SAVE)
        self._acquire = client.register_script(ACQUIRE)

    def subscribe(self, url: str, events: list[str], description: str | None = None) -> dict:
        """A new subscription, with its secret."""
        subscription = {"id": WEBHOOK_ID_PREFIX + secrets.token_hex(8), "url": url,
                        "events": sorted(set(events)), "description": description,
                        "created_at": time.time(), "secret": new_secret()}
        outcome = self._save(keys=[keys.WEBHOOKS, keys.WEBHOOK_EVENTS],
                             args=[subscription["id"], json.dumps(subscription),
                                   MAX_SUBSCRIPTIONS])
        if outcome == -1:
            raise SubscriptionLimit
        return subscription

    def unsubscribe(self, webhook_id: str) -> bool:
        """Delete a subscription and its log; False when unknown."""
        if not self._save(keys=[keys.WEBHOOKS, keys.WEBHOOK_EVENTS],
                          args=[webhook_id, "", MAX_SUBSCRIPTIONS]):
            return False
        self.client.delete(keys.webhook_deliveries(webhook_id))
        return True

    def subscription(self, webhook_id: str) -> dict | None:
        value = self.client.hget(keys.WEBHOOKS, webhook_id)
        return json.loads(value) if value else None

    def subscriptions(self) -> list[dict]:
        """Every subscription, oldest first."""
        found = [json.loads(value) for value in self.client.hvals(keys.WEBHOOKS)]
        return sorted(found, key=lambda s: (s["created_at"], s["id"]))

    def callback_secret(self, owner: str) -> str:
        """The secret that signs callbacks of ``owner``'s tasks, created on first use."""
        secret = self.client.hget(keys.CALLBACK_SECRETS, owner)
        if secret is None:
            self.client.hsetnx(keys.CALLBACK_SECRETS, owner, new_secret())
            secret = self.client.hget(keys.CALLBACK_SECRETS, owner)
        return secret

    def rotate_callback_secret(self, owner: str) -> str:
        secret = new_secret()
        self.client.hset(keys.CALLBACK_SECRETS, owner, secret)
        return secret

    def acquire_slot(self, host: str, delivery_id: str, limit: int, hold_seconds: float) -> bool:
        """Room for one more attempt to ``host`` (at most ``limit`` at once, across workers)."""
        return bool(self._acquire(keys=[keys.webhook_in_flight(host)],
                                  args=[delivery_id, limit, hold_seconds]))

    def release_slot(self, host: str, delivery_id: str) -> None:
        self.client.zrem(keys.webhook_in_flight(host), delivery_id)

    def log_attempt(self, delivery: dict, attempt: dict) -> None:
        """Record one attempt on the subscription's log, or on the task's for a callback."""
        if delivery.get("webhook_id"):
            key, ttl = keys.webhook_deliveries(delivery["webhook_id"]), DELIVERY_LOG_TTL_SECONDS
        else:
            key, ttl = keys.task_deliveries(delivery["task_id"]), self.task_ttl_seconds
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(attempt))
            pipe.ltrim(key, 0, DELIVERY_LOG_LENGTH - 1)
            pipe.expire(key, ttl)
            pipe.execute()

    def attempts(self, key: str) -> list[dict]:
        """A delivery log, newest first."""
        return [json.loads(item) for item in self.client.lrange(key, 0, -1)]

    def outbox_length(self) -> int:
        """Events written and not yet handed to deliveries."""
        return self.client.xlen(keys.WEBHOOK_OUTBOX)
