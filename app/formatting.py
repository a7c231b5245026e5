"""Human-readable forms of measured numbers, as the seed writes them ("1.5s", "2h 30m")."""
import math
from datetime import UTC, datetime


def duration(seconds: float) -> str:
    """``0.00041s``, ``1.5s``, ``5m 10s``, ``2h 30m``: three significant digits below a minute."""
    if seconds <= 0:
        return "0s"
    if seconds < 60:
        decimals = max(0, 2 - math.floor(math.log10(seconds)))  # plain digits, never 1e-05
        return f"{round(seconds, decimals):.{decimals}f}".rstrip("0").rstrip(".") + "s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def timestamp(epoch: str | float | None) -> str | None:
    """An ISO 8601 UTC time from seconds since the epoch."""
    if epoch in (None, ""):
        return None
    return datetime.fromtimestamp(float(epoch), tz=UTC).isoformat(timespec="milliseconds")
