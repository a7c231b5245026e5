"""Sums of time-bucketed metric hashes over a recent window, by Redis's clock.

Both the task metrics (``keys.METRICS``, written by the registry's scripts) and the API
request metrics (``keys.API_METRICS``) are hashes per ``BUCKET_SECONDS``. A window of N
seconds sums the buckets that started within the last N seconds, the current partial one
included; rates divide by the time those buckets actually cover, so a rate read early in a
bucket is not diluted.
"""
import math
from dataclasses import dataclass

import redis

from tasks import metrics
from tasks.metrics import BUCKET_SECONDS

LATENCY_BIN = "latency_bin:"


@dataclass(frozen=True)
class Window:
    """Field sums over a window of buckets."""

    seconds: float  # the time the summed buckets cover, up to now
    totals: dict[str, float]

    def get(self, name: str, channel: str | None = None) -> float:
        return self.totals.get(name if channel is None else f"{name}:{channel}", 0.0)

    def rate(self, name: str, channel: str | None = None) -> float:
        """Per second over the window."""
        return self.get(name, channel) / self.seconds if self.seconds > 0 else 0.0

    def bins(self, channel: str | None = None) -> dict[int, float]:
        """The latency histogram: bin index to count."""
        suffix = "" if channel is None else f":{channel}"
        found = {}
        for name, count in self.totals.items():
            if name.startswith(LATENCY_BIN) and count:
                index, _, rest = name[len(LATENCY_BIN):].partition(":")
                if (":" + rest if rest else "") == suffix:
                    found[int(index)] = count
        return found

    def percentile(self, fraction: float, channel: str | None = None) -> float | None:
        """The latency in ms below which ``fraction`` of those counted lie (a bin's edge)."""
        return metrics.percentile(self.bins(channel), fraction)

    def with_prefix(self, prefix: str) -> dict[str, float]:
        """The fields starting with ``prefix``, without it."""
        return {name[len(prefix):]: value for name, value in self.totals.items()
                if name.startswith(prefix)}


def bucket_range(now: float, window_seconds: float) -> tuple[int, int, float]:
    """First and last bucket of a window ending at ``now``, and the seconds they cover."""
    last = math.floor(now / BUCKET_SECONDS)
    first = min(math.floor((now - window_seconds) / BUCKET_SECONDS) + 1, last)
    return first, last, now - first * BUCKET_SECONDS


def read(client: redis.Redis, templates: dict[str, str], window_seconds: float,
         now: float) -> dict[str, Window]:
    """One ``Window`` per key template (``"sp:metrics:%d"``), in one round trip."""
    first, last, covered = bucket_range(now, window_seconds)
    with client.pipeline(transaction=False) as pipe:
        for template in templates.values():
            for bucket in range(first, last + 1):
                pipe.hgetall(template % bucket)
        replies = iter(pipe.execute())
    windows = {}
    for name in templates:
        totals: dict[str, float] = {}
        for _ in range(first, last + 1):
            for field, value in next(replies).items():
                totals[field] = totals.get(field, 0.0) + float(value)
        windows[name] = Window(covered, totals)
    return windows
