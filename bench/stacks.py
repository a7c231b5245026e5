"""The two systems under test, each an API and Celery workers on its own Redis database.

``ProjectStack`` runs the platform as ``make run`` does; ``PeerStack`` runs ``bench/peer``.
Both answer the same questions (is this task finished, how many wait, are the queues idle,
when did each task finish), so every scenario is written once for both.
"""
import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import psutil
import redis

import settings
from bench import ROOT
from bench.client import Client
from bench.processes import Process, ProcessSet, free_port, wait_http, wait_worker

logger = logging.getLogger(__name__)

BIN = Path(sys.executable).parent
# Throwaway tokens of the bench's private stacks.
CHANNEL_TOKEN = "bench-channel-token"  # noqa: S105
OPERATOR_TOKEN = "bench-operator-token"  # noqa: S105
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_PRIORITY_SEP = "\x06\x16"
SCAN_CHUNK = 1000


class Finish(NamedTuple):
    """When a finished task was created (None where unknown) and finished, epoch seconds."""

    created: float | None
    finished: float
    ok: bool  # completed; False when it failed


def broker_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps for one queue, one per priority step."""
    return [queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{step}"
            for step in KOMBU_PRIORITY_STEPS]


class Stack:
    """An API and its workers on database ``db`` of the bench's Redis."""

    name = "stack"
    queues: tuple[str, ...] = ()
    # The query with which ``GET /task/<id>`` waits for the task to finish, if the API can.
    wait_query = ""

    def __init__(self, processes: ProcessSet, redis_port: int, db: int):
        self.processes = processes
        self.redis_url = f"redis://127.0.0.1:{redis_port}/{db}"
        self.redis = redis.Redis(port=redis_port, db=db, decode_responses=True,
                                 socket_timeout=10)
        self.celery = self.make_celery()
        self.port = free_port()
        self.api: Process | None = None
        self.workers: dict[str, Process] = {}  # by hostname
        self.standing: dict[str, Process] = {}  # by hostname

    # What differs between the stacks.
    def make_celery(self):
        raise NotImplementedError

    def api_argv(self) -> list[str]:
        raise NotImplementedError

    def worker_argv(self, hostname: str, concurrency: int) -> list[str]:
        raise NotImplementedError

    def is_finished(self, answer: dict) -> bool:
        """True when a ``GET /task/<id>`` answer shows the task done (completed or failed)."""
        raise NotImplementedError

    def backlog(self) -> int:
        """Tasks accepted and not yet started."""
        raise NotImplementedError

    def finish_times(self, task_ids: list[str] | None = None) -> dict[str, Finish]:
        """The finished tasks among ``task_ids`` (default: all in the database), by id."""
        raise NotImplementedError

    def accepted(self, task_ids: list[str] | None = None) -> int:
        """How many of ``task_ids`` (default: all) were accepted; 0 where nothing tells."""
        return len(task_ids) if task_ids is not None else 0

    # Shared.
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(REDIS_URL=self.redis_url, API_TOKENS=CHANNEL_TOKEN,
                   OPERATOR_TOKENS=OPERATOR_TOKEN, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        return env

    def client(self, token: str = CHANNEL_TOKEN) -> Client:
        return Client(self.port, token)

    def submission(self, text: str, channel: str = "chat", priority: str = "normal") -> dict:
        """A ``POST /task`` body, the same for both stacks."""
        return {"type": "sentiment_analysis",
                "data": {"text": text, "channel": channel, "priority": priority}}

    def start_api(self) -> None:
        """Start the API; ``wait_api`` waits until it answers."""
        self.api = self.processes.start(f"{self.name}-api", self.api_argv(), env=self.env(),
                                        cwd=ROOT)

    def wait_api(self) -> None:
        wait_http(self.api, self.port)

    def worker_hostname(self, index: int) -> str:
        return f"bench-{self.name}-{index}@{socket.gethostname()}"

    def start_worker(self, index: int = 0, concurrency: int = 2) -> str:
        """Start a worker; ``wait_workers`` waits until it answers. Returns its hostname."""
        hostname = self.worker_hostname(index)
        self.workers[hostname] = self.processes.start(
            f"{self.name}-worker-{index}", self.worker_argv(hostname, concurrency),
            env=self.env(), cwd=ROOT)
        return hostname

    def start_standing_workers(self) -> None:
        """Start the workers (``standing``) that run for the whole bench, as its Procfile
        would; none here. Scenarios stop and start ``workers`` only."""

    def wait_workers(self, hostnames: list[str] | None = None) -> None:
        for hostname in hostnames or list(self.workers):
            wait_worker(self.workers.get(hostname) or self.standing[hostname], self.celery,
                        hostname)

    def stop_worker(self, hostname: str) -> None:
        self.processes.stop(self.workers.pop(hostname))

    def stop_workers(self, hostnames: list[str]) -> None:
        """Stop several workers, which wind down in parallel."""
        for hostname in hostnames:
            self.workers[hostname].terminate()
        for hostname in hostnames:
            self.stop_worker(hostname)

    def idle(self) -> bool:
        """True when no message waits in the broker and none is held unacknowledged."""
        with self.redis.pipeline(transaction=False) as pipe:
            for queue in self.queues:
                for name in broker_lists(queue):
                    pipe.llen(name)
            pipe.hlen("unacked")
            return not any(pipe.execute())

    def drop_backlog(self) -> None:
        """Delete every message waiting in the broker, for a scenario that starts afresh."""
        self.redis.delete(*[name for queue in self.queues for name in broker_lists(queue)])

    def rss(self) -> dict:
        """Resident memory of the API's processes and of the first worker's, in bytes."""
        def tree(process: Process | None) -> dict:
            if process is None or not process.alive():
                return {}
            root = psutil.Process(process.pid)
            children = root.children(recursive=True)
            return {"main": root.memory_info().rss,
                    "children": [child.memory_info().rss for child in children]}
        first_worker = next(iter(self.workers.values()), None)
        return {"api": tree(self.api), "worker": tree(first_worker)}


class ProjectStack(Stack):
    """The platform: gunicorn with the project's config, one Celery worker on all channels."""

    name = "project"
    # A waiting request costs the gevent API a greenlet: it answers when the task finishes.
    wait_query = "?wait=10"
    queues = ("chat", "voice", "email")

    def make_celery(self):
        from tasks.celery_app import make_celery
        return make_celery(self.redis_url)

    def env(self) -> dict[str, str]:
        env = super().env()
        # The defaults make run uses, whatever the shell running the bench exports.
        env.update(PORT=str(self.port), RATE_LIMIT="off",
                   **{name: settings.BY_NAME[name].default
                      for name in ("WEB_CONCURRENCY", "WEB_CONNECTIONS")})
        return env

    def api_argv(self) -> list[str]:
        return [str(BIN / "gunicorn"), "--config", "python:app.gunicorn_config",
                "app:create_app()"]

    def worker_argv(self, hostname: str, concurrency: int) -> list[str]:
        return [str(BIN / "celery"), "--app", "tasks.celery_app", "worker",
                "--queues", ",".join(self.queues), "--concurrency", str(concurrency),
                "--hostname", hostname]

    def start_standing_workers(self) -> None:
        """The Procfile's ``urgent`` worker: ``high`` messages only, in its own process."""
        hostname = f"bench-{self.name}-urgent@{socket.gethostname()}"
        self.standing[hostname] = self.processes.start(
            f"{self.name}-urgent", [
                str(BIN / "celery"), "--app", "tasks.celery_app", "worker", "--pool", "solo",
                "--priorities", "high", "--queues", ",".join(self.queues),
                "--hostname", hostname],
            env=self.env(), cwd=ROOT)

    def is_finished(self, answer: dict) -> bool:
        return answer.get("status") in ("completed", "failed")

    def backlog(self) -> int:
        from tasks import keys
        from tasks.queues import CHANNELS, PRIORITIES
        with self.redis.pipeline(transaction=False) as pipe:
            for priority in PRIORITIES:
                for channel in CHANNELS:
                    pipe.zcard(keys.queued(channel, priority))
            return sum(pipe.execute())

    def drop_backlog(self) -> None:
        """Also delete the waiting tasks, or the requeue sweep would send them again."""
        from tasks import keys
        from tasks.queues import CHANNELS, PRIORITIES
        for priority in PRIORITIES:
            for channel in CHANNELS:
                waiting = keys.queued(channel, priority)
                for start in range(0, self.redis.zcard(waiting), SCAN_CHUNK):
                    ids = self.redis.zrange(waiting, start, start + SCAN_CHUNK - 1)
                    self.redis.delete(*[keys.task(task_id) for task_id in ids])
                self.redis.delete(waiting)
        super().drop_backlog()

    def task_fields(self, task_ids: list[str], *fields: str) -> list[list]:
        """Fields of the registry hashes of ``task_ids``, in order."""
        from tasks import keys
        rows = []
        for start in range(0, len(task_ids), SCAN_CHUNK):
            with self.redis.pipeline(transaction=False) as pipe:
                for task_id in task_ids[start:start + SCAN_CHUNK]:
                    pipe.hmget(keys.task(task_id), *fields)
                rows.extend(pipe.execute())
        return rows

    def task_keys(self) -> list[str]:
        from tasks import keys
        return list(self.redis.scan_iter(match=keys.TASK % "*", count=SCAN_CHUNK))

    def accepted(self, task_ids: list[str] | None = None) -> int:
        return len(task_ids) if task_ids is not None else len(self.task_keys())

    def task_ids(self) -> list[str]:
        from tasks import keys
        prefix = keys.TASK % ""
        return [key[len(prefix):] for key in self.task_keys()]

    def finish_times(self, task_ids: list[str] | None = None) -> dict[str, Finish]:
        ids = self.task_ids() if task_ids is None else task_ids
        times = {}
        for task_id, (status, created, finished) in zip(
                ids, self.task_fields(ids, "status", "created_at", "finished_at"), strict=True):
            if status in ("completed", "failed") and finished:
                times[task_id] = Finish(float(created) if created else None, float(finished),
                                        status == "completed")
        return times


class PeerStack(Stack):
    """The plain implementation of ``bench/peer``: sync gunicorn, results in Celery's backend."""

    name = "peer"
    queues = ("celery",)
    META_PREFIX = "celery-task-meta-"

    def make_celery(self):
        from bench.peer.celery_app import make_celery
        return make_celery(self.redis_url)

    def api_argv(self) -> list[str]:
        return [str(BIN / "gunicorn"), "--workers", "2", "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}", "bench.peer.api:create_app()"]

    def worker_argv(self, hostname: str, concurrency: int) -> list[str]:
        return [str(BIN / "celery"), "--app", "bench.peer.celery_app:celery", "worker",
                "--concurrency", str(concurrency), "--hostname", hostname]

    def is_finished(self, answer: dict) -> bool:
        return answer.get("status") in ("SUCCESS", "FAILURE")

    def backlog(self) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            for queue in self.queues:
                for name in broker_lists(queue):
                    pipe.llen(name)
            return sum(pipe.execute())

    def result_keys(self) -> list[str]:
        return list(self.redis.scan_iter(match=self.META_PREFIX + "*", count=SCAN_CHUNK))

    def finish_times(self, task_ids: list[str] | None = None) -> dict[str, Finish]:
        """Finish times from the result backend's ``date_done``; the creation time is unknown."""
        names = (self.result_keys() if task_ids is None
                 else [self.META_PREFIX + task_id for task_id in task_ids])
        times = {}
        for start in range(0, len(names), SCAN_CHUNK):
            chunk = names[start:start + SCAN_CHUNK]
            for name, raw in zip(chunk, self.redis.mget(chunk), strict=True):
                if not raw:
                    continue
                meta = json.loads(raw)
                if meta.get("status") in ("SUCCESS", "FAILURE") and meta.get("date_done"):
                    done = datetime.fromisoformat(meta["date_done"])
                    if done.tzinfo is None:
                        done = done.replace(tzinfo=UTC)
                    times[name[len(self.META_PREFIX):]] = Finish(
                        None, done.timestamp(), meta["status"] == "SUCCESS")
        return times


def wait_finished(stack: Stack, expected: int | None, timeout: float,
                  task_ids: list[str] | None = None) -> dict[str, Finish]:
    """Wait until the queues are idle and every task is finished; returns their times.

    ``expected`` is how many tasks must be finished (None: as many as the stack accepted,
    where it knows). Cheap checks (queue lengths) run often; the full count only once the
    queues are idle, so waiting does not steal much CPU from the workers being measured.
    """
    deadline = time.monotonic() + timeout
    last_count = -1
    while True:
        if stack.idle():
            times = stack.finish_times(task_ids)
            target = expected if expected is not None else stack.accepted(task_ids)
            # Stable for two looks: the peer acknowledges before running, so an idle queue
            # can still mean a task in flight.
            if len(times) >= target and len(times) == last_count:
                return times
            last_count = len(times)
            time.sleep(0.1)
        else:
            time.sleep(0.02)
        if time.monotonic() > deadline:
            times = stack.finish_times(task_ids)
            logger.warning("%s: %d tasks finished when the %ss wait ran out", stack.name,
                           len(times), timeout)
            return times
