"""Percentiles and summaries of measured durations."""
import math


def percentile(values, fraction: float) -> float | None:
    """The value below which ``fraction`` of ``values`` lie, interpolated linearly."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds) -> dict:
    """Count, p50, p99 and max of durations given in seconds, in milliseconds."""
    values = [s * 1000 for s in seconds]
    if not values:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {"count": len(values), "p50_ms": round(percentile(values, 0.5), 3),
            "p99_ms": round(percentile(values, 0.99), 3), "max_ms": round(max(values), 3)}


def ratio(numerator, denominator) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)
