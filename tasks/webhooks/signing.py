"""Signatures of webhook deliveries, as Stripe signs its events.

Header ``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, keyed by the
subscription's (or the owner's callback) secret. The timestamp is inside the signed text, so
a receiver that refuses old timestamps also refuses replays of a captured delivery.
"""
import hashlib
import hmac
import time

HEADER = "X-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Signature`` value for ``body`` signed now (or at ``timestamp``)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, body: bytes, value: str,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and its timestamp is recent."""
    parts = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))
