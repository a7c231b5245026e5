"""A customer's recent messages and their trend, read from ``keys.customer_history``.

The registry's COMPLETE script writes the history (a sorted set by completion time, one
member per task, bounded and expiring); this module only reads it and judges its trend.

Trend: the messages, oldest first, are split into the earlier half and the recent half (the
middle one of an odd count belongs to neither); ``change`` is the recent half's mean compound
minus the earlier half's. ``worsening`` when it fell by more than ``STABLE_BAND``,
``improving`` when it rose by more, ``stable`` otherwise; no trend with fewer than 2 messages.
"""
import json
from dataclasses import dataclass
from statistics import fmean

import redis

from tasks import keys

STABLE_BAND = 0.1  # compound points: smaller changes of the mean are noise, not a trend
IMPROVING, STABLE, WORSENING = "improving", "stable", "worsening"


@dataclass(frozen=True)
class HistoryEntry:
    task_id: str
    at: float  # completion time, seconds since the epoch (Redis's clock)
    channel: str
    sentiment: str
    compound: float
    owner: str | None  # the submitting token's id


@dataclass(frozen=True)
class Trend:
    direction: str
    change: float  # recent mean minus earlier mean
    earlier_mean: float
    recent_mean: float
    compared: int  # messages in each half


def read(client: redis.Redis, customer_id: str) -> list[HistoryEntry]:
    """The customer's recent messages, newest first (one round trip)."""
    rows = client.zrevrange(keys.customer_history(customer_id), 0, -1, withscores=True)
    return [parse(member, score) for member, score in rows]


def parse(member: str, score: float) -> HistoryEntry:
    """One history member, the JSON array [task id, channel, sentiment, score, owner]."""
    task_id, channel, sentiment, compound, owner = json.loads(member)
    return HistoryEntry(task_id, score, channel, sentiment, compound, owner)


def trend(compounds_oldest_first: list[float]) -> Trend | None:
    """How the customer's sentiment moved across their recent messages (see module doc)."""
    half = len(compounds_oldest_first) // 2
    if half == 0:
        return None
    earlier = fmean(compounds_oldest_first[:half])
    recent = fmean(compounds_oldest_first[-half:])
    change = recent - earlier
    if change < -STABLE_BAND:
        direction = WORSENING
    elif change > STABLE_BAND:
        direction = IMPROVING
    else:
        direction = STABLE
    return Trend(direction, change, earlier, recent, half)
