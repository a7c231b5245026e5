"""Time-bucketed counters and latency histograms in Redis, and the figures read from them.

The registry's scripts count into one hash per ``BUCKET_SECONDS`` (``keys.METRICS``): each
field once overall and once suffixed with ``:<channel>``. Latencies go into log-spaced bins
(``latency_bin:<i>``), so percentiles over any window are sums of bins: the same whichever
process answers, and cheap. A bin is ``BIN_GROWTH`` times wider than the one before, so a
percentile read from the bins is within 25% of the true value.
"""
import math

BUCKET_SECONDS = 10
TTL_SECONDS = 2 * 3600
BIN_BASE_MS = 0.1  # upper edge of bin 0
BIN_GROWTH = 1.25
BIN_COUNT = 80  # the last bin, from about 4 hours up, takes everything longer


def bin_index(milliseconds: float) -> int:
    """The histogram bin a latency falls in (the same rule as the Lua scripts)."""
    if milliseconds <= BIN_BASE_MS:
        return 0
    index = math.ceil(math.log(milliseconds / BIN_BASE_MS) / math.log(BIN_GROWTH))
    return min(index, BIN_COUNT - 1)


def bin_upper_edge(index: int) -> float:
    """The largest latency, in ms, bin ``index`` holds."""
    return BIN_BASE_MS * BIN_GROWTH ** index


def percentile(bins: dict[int, float], fraction: float) -> float | None:
    """The latency below which ``fraction`` of the counted ones lie (a bin's upper edge)."""
    total = sum(bins.values())
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0.0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            return bin_upper_edge(index)
    return bin_upper_edge(max(bins))


def config() -> dict:
    """What the Lua scripts need to count the same way."""
    return {"bucket_seconds": BUCKET_SECONDS, "metrics_ttl": TTL_SECONDS,
            "bin_base": BIN_BASE_MS, "bin_growth": BIN_GROWTH, "bin_count": BIN_COUNT}
