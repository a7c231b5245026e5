"""What the workers' heartbeats say: every known worker and whether it is still alive.

Two round trips whatever the number of workers, no broadcast: the workers pushed this state
(``workers.heartbeat``). A worker is ``offline`` once it stopped (warm shutdown) or missed
``OFFLINE_AFTER_BEATS`` beats of its own interval, by Redis's clock; it stays listed as
offline until ``WORKER_FORGET_SECONDS`` after its last beat.
"""
from dataclasses import dataclass

import redis

from tasks import keys
from tasks.connections import seconds
from tasks.queues import PRIORITIES, queue_for
from workers.heartbeat import OFFLINE_AFTER_BEATS

ACTIVE, IDLE, OFFLINE = "active", "idle", "offline"


@dataclass(frozen=True)
class WorkerState:
    """One worker as its last heartbeat described it."""

    node: str  # Celery's node name, e.g. worker-3@host
    platform_id: int | None  # the id POST /workers gave it; None when started elsewhere
    status: str
    busy: int
    load: float
    tasks_processed: int
    concurrency: int
    queues: tuple[str, ...]
    priorities: tuple[str, ...]  # the priorities it takes (``--priorities``)
    pid: int
    started_at: float
    last_seen: float
    uptime_seconds: float | None

    @property
    def id(self) -> int | str:
        """The id the API shows: the platform's number, else the node name."""
        return self.node if self.platform_id is None else self.platform_id

    @property
    def host(self) -> str:
        return self.node.partition("@")[2]

    @property
    def online(self) -> bool:
        return self.status != OFFLINE


def read_workers(client: redis.Redis, forget_seconds: float) -> list[WorkerState]:
    """Every worker seen within ``forget_seconds``, sorted by id."""
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.zrangebyscore(keys.WORKERS, "-inf", "+inf", withscores=True)
        clock, indexed = pipe.execute()
    now = seconds(clock)
    nodes = [node for node, last_seen in indexed if last_seen >= now - forget_seconds]
    if not nodes:
        return []
    with client.pipeline(transaction=False) as pipe:
        for node in nodes:
            pipe.hgetall(keys.worker(node))
        hashes = pipe.execute()
    workers = [parse(fields, now) for fields in hashes if fields]
    return sorted(workers, key=_sort_key)


def parse(fields: dict[str, str], now: float) -> WorkerState:
    """A heartbeat hash as a ``WorkerState``, its status judged at ``now``."""
    last_seen = float(fields["last_seen"])
    started_at = float(fields.get("started_at", last_seen))
    interval = float(fields.get("heartbeat_seconds", 2))
    stale = now - last_seen > OFFLINE_AFTER_BEATS * interval
    offline = stale or "stopped_at" in fields or fields.get("state") == OFFLINE
    status = OFFLINE if offline else (ACTIVE if fields.get("state") == ACTIVE else IDLE)
    platform_id = fields.get("platform_id") or None
    return WorkerState(
        node=fields["node"],
        platform_id=int(platform_id) if platform_id is not None else None,
        status=status,
        busy=0 if offline else int(fields.get("busy", 0)),
        load=0.0 if offline else float(fields.get("load", 0)),
        tasks_processed=int(fields.get("tasks_processed", 0)),
        concurrency=int(fields.get("concurrency", 0)),
        queues=tuple(q for q in fields.get("queues", "").split(",") if q),
        priorities=tuple(p for p in fields.get("priorities", "").split(",") if p) or PRIORITIES,
        pid=int(fields.get("pid", 0)),
        started_at=started_at,
        last_seen=last_seen,
        uptime_seconds=None if offline else max(now - started_at, 0.0),
    )


def unserved(workers: list[WorkerState], channel: str, waiting: dict[str, int]) -> bool:
    """True when tasks of ``channel`` wait (``waiting``: by priority) at a priority that no
    online worker consuming the channel's queue takes."""
    takers = [w for w in workers if w.online and queue_for(channel) in w.queues]
    return any(count and not any(priority in w.priorities for w in takers)
               for priority, count in waiting.items())


def find(workers: list[WorkerState], worker_id: str | int) -> WorkerState | None:
    """The worker an id names (a number or a node name); an online one wins over an offline."""
    wanted = str(worker_id)
    matches = [w for w in workers if str(w.id) == wanted or w.node == wanted]
    matches.sort(key=lambda w: (not w.online, -w.last_seen))
    return matches[0] if matches else None


def ids_in_use(workers: list[WorkerState]) -> set[int]:
    """Platform ids an online worker holds, by id or by a ``worker-<n>@`` node name."""
    used = set()
    for worker in workers:
        if not worker.online:
            continue
        if worker.platform_id is not None:
            used.add(worker.platform_id)
        name = worker.node.partition("@")[0]
        if name.startswith("worker-") and name[len("worker-"):].isdigit():
            used.add(int(name[len("worker-"):]))
    return used


def counts(workers: list[WorkerState]) -> dict[str, int]:
    """How many workers are listed, active, idle and offline."""
    by_status = {ACTIVE: 0, IDLE: 0, OFFLINE: 0}
    for worker in _dedupe(workers):
        by_status[worker.status] += 1
    return {"total": sum(by_status.values()), **by_status}


def listed(workers: list[WorkerState]) -> list[WorkerState]:
    """The workers to show: an offline entry is hidden once an online one took its id."""
    return _dedupe(workers)


def _dedupe(workers: list[WorkerState]) -> list[WorkerState]:
    online_ids = {str(w.id) for w in workers if w.online}
    return [w for w in workers if w.online or str(w.id) not in online_ids]


def _sort_key(worker: WorkerState):
    return (worker.platform_id is None, worker.platform_id or 0, worker.node)
