"""When to try again: backoff with full jitter, ``Retry-After`` and the rate-limit headers.

Pure functions of headers, attempt numbers and a random source, so they are tested alone.
"""
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Answers worth another attempt: the request did not reach a decision, or was refused for now.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff_delay(attempt: int, base: float, cap: float,
                  retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to sleep before retry number ``attempt`` (0 for the first retry).

    Without a server hint: "full jitter", uniform in [0, min(cap, base * 2**attempt)], which
    spreads clients that failed together. With ``Retry-After``: that long, plus up to ``base``
    so that clients told the same moment do not all return in the same millisecond.
    """
    rng = rng or random
    if retry_after is not None:
        return retry_after + rng.uniform(0, base)
    return rng.uniform(0, min(cap, base * 2 ** attempt))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks for: delta-seconds or an HTTP-date (RFC 9110)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def server_time(headers) -> datetime | None:
    """The answer's ``Date``: the server's clock, to read its absolute times without skew."""
    try:
        return parsedate_to_datetime(headers["Date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def retry_after(headers) -> float | None:
    """The ``Retry-After`` of an answer, measured on the server's clock when it sent a date."""
    return parse_retry_after(headers.get("Retry-After"), server_time(headers))


def rate_limit_pause(headers) -> float | None:
    """Seconds until the token's window resets, once ``X-RateLimit-Remaining`` reached 0.

    ``X-RateLimit-Reset`` is an epoch time on the server's clock, so it is read against the
    answer's ``Date`` rather than this machine's clock. None while requests remain.
    """
    try:
        remaining = int(headers["X-RateLimit-Remaining"])
        reset = float(headers["X-RateLimit-Reset"])
    except (KeyError, TypeError, ValueError):
        return None
    if remaining > 0:
        return None
    now = server_time(headers) or datetime.now(UTC)
    return max(reset - now.timestamp(), 0.0)
