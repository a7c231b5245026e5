"""Worker heartbeats: every Celery worker pushes its state to Redis, so the API never asks.

A bootstep starts a thread in the worker's main process. It samples how many tasks the
worker executes (``celery.worker.state``, kept by the main process for every pool) ten times a
beat and, every ``WORKER_HEARTBEAT_SECONDS``, writes one hash per node (``keys.WORKER``),
refreshes the node in the index of known workers (``keys.WORKERS``) and appends the beat to
the worker event stream (``keys.WORKER_EVENTS``) that ``/worker/{id}`` sockets follow. All
in one Lua script, stamped with Redis's clock, so hosts with drifting clocks still agree.

A thread rather than the worker's event-loop timer: a slow Redis then never stalls message
consumption, and the beat works the same with every pool.
"""
import json
import logging
import os
import threading

import click
import redis
from celery import Celery, bootsteps
from celery.worker import state as worker_state

import settings
from tasks import keys
from tasks.connections import connect
from tasks.queues import PRIORITIES

logger = logging.getLogger(__name__)

OFFLINE_AFTER_BEATS = 3  # missed beats after which a worker counts as offline
SAMPLES_PER_BEAT = 10
WORKER_EVENTS_MAXLEN = 10_000

# KEYS: worker hash, index, event stream. ARGV[1] node, ARGV[2] seconds to keep the hash and
# index entry, ARGV[3] '1' on the first beat, ARGV[4] '1' on the last (stopping) beat,
# ARGV[5] stream MAXLEN, ARGV[6] event JSON, ARGV[7..] field/value pairs.
BEAT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local now_s = string.format('%.6f', now)
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'started_at', now_s)
end
redis.call('HSET', KEYS[1], 'last_seen', now_s, unpack(ARGV, 7))
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'stopped_at', now_s) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
local event = cjson.decode(ARGV[6])
event.at = now
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event', cjson.encode(event))
return now_s
"""


class HeartbeatWriter:
    """The beat of one worker: a thread that samples its load and writes its state."""

    def __init__(self, worker, client: redis.Redis, interval: float, forget_seconds: int,
                 platform_id: int | None):
        self.worker = worker
        self.client = client
        self.interval = interval
        self.forget_seconds = forget_seconds
        self.platform_id = platform_id
        self._script = client.register_script(BEAT)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = True
        self._samples: list[int] = []
        self._processed_at_last_beat = 0
        self._failing = False

    def start(self) -> None:
        """Write the first beat now, then keep beating from a daemon thread."""
        self.beat()
        self._thread = threading.Thread(target=self._run, name="sp-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and mark the worker offline: it consumes no more (a warm shutdown)."""
        # Tasks in hand still finish while the pool drains; their results reach the registry.
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
        self.beat(final=True)

    def _run(self) -> None:
        step = self.interval / SAMPLES_PER_BEAT
        while not self._stopping.wait(step):
            self._samples.append(len(worker_state.active_requests))
            if len(self._samples) >= SAMPLES_PER_BEAT:
                self.beat()

    def state(self, final: bool = False) -> dict:
        """This worker's figures right now."""
        busy = len(worker_state.active_requests)
        # all_total_count counts tasks handed to the pool; those still running are not done.
        processed = worker_state.all_total_count[0] - busy
        samples, self._samples = self._samples or [busy], []
        concurrency = self._concurrency()
        load = sum(samples) / len(samples) / concurrency if concurrency else 0.0
        # Active when it is executing now or finished something since the last beat, so a
        # worker serving many short tasks does not look idle between samples.
        active = busy > 0 or max(samples) > 0 or processed > self._processed_at_last_beat
        self._processed_at_last_beat = processed
        return {
            "node": self.worker.hostname,
            "platform_id": "" if self.platform_id is None else str(self.platform_id),
            "state": "offline" if final else ("active" if active else "idle"),
            "busy": busy,
            "load": round(min(load, 1.0), 4),
            "tasks_processed": processed,
            "concurrency": concurrency,
            "queues": ",".join(sorted(self.worker.app.amqp.queues.consume_from or ())),
            "priorities": ",".join(getattr(self.worker, "priorities", PRIORITIES)),
            "pid": os.getpid(),
            "heartbeat_seconds": self.interval,
        }

    def beat(self, final: bool = False) -> None:
        """Write one heartbeat; a Redis outage is logged once, never raised."""
        fields = self.state(final)
        event = {"type": "worker", **{k: fields[k] for k in (
            "node", "state", "busy", "load", "tasks_processed", "concurrency", "pid",
            "heartbeat_seconds")},
            "id": _public_id(fields["platform_id"], fields["node"])}
        try:
            self._script(
                keys=[keys.worker(fields["node"]), keys.WORKERS, keys.WORKER_EVENTS],
                args=[fields["node"], self.forget_seconds, int(self._first), int(final),
                      WORKER_EVENTS_MAXLEN, json.dumps(event),
                      *[str(item) for pair in fields.items() for item in pair]])
        except redis.RedisError as exc:
            if not self._failing:
                logger.warning("heartbeat of %s not written: %s", fields["node"], exc)
            self._failing = True
            return
        if self._failing:
            logger.info("heartbeat of %s written again", fields["node"])
        self._failing = False
        self._first = False

    def _concurrency(self) -> int:
        pool = getattr(self.worker, "pool", None)
        processes = getattr(pool, "num_processes", None)
        return int(processes or self.worker.concurrency or 0)


def _public_id(platform_id: str, node: str) -> int | str:
    return int(platform_id) if platform_id else node


class Heartbeat(bootsteps.StartStopStep):
    """Worker bootstep that runs the ``HeartbeatWriter``."""

    label = "heartbeat"
    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, platform_id: int | None = None, **options):
        super().__init__(worker, **options)
        self.platform_id = platform_id

    def create(self, worker) -> HeartbeatWriter:
        config = settings.load()
        client = connect(worker.app.conf.broker_url or config["REDIS_URL"])
        return HeartbeatWriter(worker, client, config["WORKER_HEARTBEAT_SECONDS"],
                               config["WORKER_FORGET_SECONDS"], self.platform_id)


def install(app: Celery) -> None:
    """Add the heartbeat to a Celery app's workers, and the ``--platform-id`` option."""
    app.steps["worker"].add(Heartbeat)
    app.user_options["worker"].add(click.Option(
        ["--platform-id"], type=int, default=None,
        help="The id POST /workers gave this worker (set by workers.agent)."))
