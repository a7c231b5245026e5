"""Every Redis key the platform writes, in one place, under one prefix.

Per-task keys expire (``TASK_TTL_SECONDS`` after their last change). The long-lived keys are
listed in the README with the reason each has no TTL.
"""
PREFIX = "sp:"

TASK = PREFIX + "task:%s"  # hash: one task's state, text and result; expires
# sorted set per priority: ids waiting, scored by accept time; long-lived
QUEUED = PREFIX + "queued:%s"
EVENTS = PREFIX + "events"  # stream of task state changes; capped by MAXLEN, not by TTL
METRICS = PREFIX + "metrics:%d"  # hash per time bucket of counters; expires
DEAD = PREFIX + "dead"  # sorted set of failed task ids by failure time; pruned as tasks expire
PROCESSING = PREFIX + "processing"  # sorted set of ids being processed, by start time; long-lived
IDEMPOTENCY = PREFIX + "idem:%s:%s"  # token id and Idempotency-Key -> task id; expires
REAPER_LOCK = PREFIX + "lock:reaper"  # one requeue sweep at a time across workers; expires


def task(task_id: str) -> str:
    return TASK % task_id


def queued(priority: str) -> str:
    return QUEUED % priority


def metrics(bucket: int) -> str:
    return METRICS % bucket


def idempotency(owner: str, key: str) -> str:
    return IDEMPOTENCY % (owner, key)
