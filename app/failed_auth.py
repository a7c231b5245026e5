"""A client address that presents too many wrong tokens is locked out for a while.

The per-token rate limit (``app.rate_limit``) counts what a known token does, so it never
sees a wrong one: without this, guessing tokens would be bounded only by the server's speed.
Each wrong bearer token, and each wrong token in the dashboard's login form, counts against
the client's address (``TRUSTED_PROXY_COUNT`` decides which address that is) in a fixed
window of ``AUTH_FAILURE_LIMIT``. Once it is reached, requests from that address that present
a token answer 429 ``RATE_LIMITED`` until the window ends, the right token too: a guess made
while locked out must learn nothing. Requests without a token (the public routes, a dashboard
session) are not affected.

The counts live in Redis, so every API process and host shares them; they use ``limits``,
the library flask-limiter is built on. When Redis cannot be reached nothing is counted or
refused (fail open), as with the per-token limit.
"""
import logging
import math
import time

import redis
from flask import Flask, current_app, request
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from app.errors import APIError
from tasks import keys

logger = logging.getLogger(__name__)

# A healthy Redis answers its GET in well under a millisecond; an outage must add little to
# a request before it fails open (the per-token limit and the route add their own waits).
STORAGE_TIMEOUT_SECONDS = 0.1
PRUNE_AT = 10_000  # locked-out addresses remembered before the expired ones are dropped


class FailedAuthentications:
    """Counts wrong tokens per client address in Redis; refuses the addresses it saw locked.

    Only a wrong token costs Redis calls. A process learns that an address is locked out from
    the count its own failures return, and remembers it until the window ends; a request with
    a right token is not checked against Redis. So a process that has not yet seen a failure
    of a locked-out address serves its right token: across all processes, an address gets at
    most one more attempt per API process in a window than the limit allows.
    """

    def __init__(self, redis_url: str, limit: str):
        self.item = parse(limit)
        self.limiter = FixedWindowRateLimiter(RedisStorage(
            redis_url, key_prefix=keys.AUTH_FAILURES,
            socket_timeout=STORAGE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORAGE_TIMEOUT_SECONDS))
        self.locked_until: dict[str, float] = {}  # address -> epoch seconds its window ends

    def refuse_if_locked_out(self, address: str) -> None:
        """Raise 429 while this process knows ``address`` to be locked out."""
        until = self.locked_until.get(address)
        if until is None:
            return
        retry_after = math.ceil(until - time.time())
        if retry_after <= 0:
            del self.locked_until[address]
            return
        raise APIError("RATE_LIMITED", "Too many wrong tokens from this address; wait before "
                       "trying again.", headers={"Retry-After": str(retry_after)})

    def record_failure(self, address: str) -> None:
        """Count a wrong token; the failure that uses up the window locks the address out."""
        try:
            self.limiter.hit(self.item, address)
            window = self.limiter.get_window_stats(self.item, address)
        except redis.RedisError:
            logger.warning("could not count a failed authentication from %s", address)
            return
        if window.remaining == 0:
            if len(self.locked_until) >= PRUNE_AT:
                now = time.time()
                self.locked_until = {a: t for a, t in self.locked_until.items() if t > now}
            self.locked_until[address] = window.reset_time


def refuse_if_locked_out() -> None:
    """Raise 429 when the request's address is known to be locked out (the limit is on)."""
    counter = current_app.extensions["failed_authentications"]
    if counter is not None:
        counter.refuse_if_locked_out(request.remote_addr or "")


def record_failure() -> None:
    """Count a wrong token against the request's address (the limit is on)."""
    counter = current_app.extensions["failed_authentications"]
    if counter is not None:
        counter.record_failure(request.remote_addr or "")


def init_app(app: Flask) -> None:
    limit = app.config["AUTH_FAILURE_LIMIT"].strip()
    app.extensions["failed_authentications"] = (
        None if limit.lower() == "off" else FailedAuthentications(app.config["REDIS_URL"], limit))
