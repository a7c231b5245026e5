"""Webhooks: tell other systems when a task completes, fails or is escalated.

The registry's scripts copy those events to an outbox stream, only when someone listens
(``tasks.registry_scripts``); a dispatcher in the webhook worker turns each outbox entry into
one Celery delivery per target (``dispatcher``); each delivery signs its body and POSTs it,
with retries and backoff, to an address checked against SSRF (``delivery``, ``signing``,
``addresses``). Subscriptions, secrets and the attempt logs live in Redis (``store``).
"""
