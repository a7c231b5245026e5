"""The per-host worker agent (``python -m workers.agent``): starts and stops Celery workers.

``POST /workers`` and ``DELETE /workers/{id}`` push commands onto this host's list in Redis
(``workers.control``); the agent spawns ``celery worker`` processes as its children, stops
them with SIGTERM (Celery's warm shutdown) and answers on the command's reply list. It beats
like a worker (``keys.AGENT``) so the API only sends commands to a live agent.

A long-lived worker needs a long-lived parent: gunicorn recycles its processes, an agent
under the process manager does not. On SIGTERM the agent stops its workers before it exits;
an agent that is killed leaves them running, and when it comes back it can still stop them
(it finds them by their heartbeat's pid).

A worker that exits on its own after it started (a crash, an OOM kill, losing Redis) is
started again with the same command line, after a delay that doubles with each quick exit in
a row (1 s, 2 s, 4 s ... at most 30 s), as supervisor and systemd do. A worker stopped through
``DELETE /workers/{id}``, or one that never got as far as its first heartbeat, is not.
"""
import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis

import logconfig
import settings
from tasks import keys
from tasks.connections import connect, redis_now
from tasks.queues import CHANNELS
from workers.control import REPLY_TTL_SECONDS, START, STOP
from workers.heartbeat import OFFLINE_AFTER_BEATS

logger = logging.getLogger("workers.agent")  # its name under `python -m` too

PROJECT_DIR = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.25  # how long one BLPOP for commands waits; also the reaping cadence
SHUTDOWN_WAIT_SECONDS = 8  # a warm shutdown's grace, below supervisor's default stopwaitsecs
HARD_LIMIT_GRACE_SECONDS = 5  # between the soft time limit and the hard kill of a pool process
RESTART_FIRST_DELAY_SECONDS = 1.0
RESTART_MAX_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 10.0  # a worker that ran this long before exiting starts the delays afresh
# Workers need none of these: a worker holds no token and signs no session.
SECRET_SETTINGS = ("API_TOKENS", "OPERATOR_TOKENS", "FLOWER_BASIC_AUTH", "SECRET_KEY")

# KEYS: agent hash, agent index. ARGV[1] host, ARGV[2] hash TTL, ARGV[3] index retention,
# ARGV[4..] field/value pairs. Stamped with Redis's clock, like the worker heartbeats.
AGENT_BEAT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('HSET', KEYS[1], 'last_seen', string.format('%.6f', now), unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
return 1
"""


@dataclass
class Managed:
    """A started worker the agent keeps running until it is told to stop it."""

    argv: list[str]
    node: str
    spawned_at: float  # monotonic
    restarts: int = 0
    quick_exits: int = 0  # exits in a row, each soon after its start
    restart_at: float | None = None  # monotonic; set while it waits to be started again


def restart_delay(quick_exits: int) -> float:
    """Seconds to wait before starting again a worker that exited ``quick_exits`` times in a row."""
    return min(RESTART_FIRST_DELAY_SECONDS * 2 ** max(quick_exits - 1, 0),
               RESTART_MAX_DELAY_SECONDS)


@dataclass
class Pending:
    """A command whose final reply waits for a worker to start or exit."""

    reply_key: str
    action: str
    worker_id: int
    node: str
    pid: int
    deadline: float  # monotonic


def worker_argv(python: str, node: str, worker_id: int, command: dict, log_level: str,
                default_concurrency: int) -> list[str]:
    """The ``celery worker`` command line for a start command."""
    argv = [python, "-m", "celery", "--app", "tasks.celery_app", "worker",
            "--hostname", node, "--platform-id", str(worker_id),
            "--queues", ",".join(command.get("queues") or CHANNELS),
            "--concurrency", str(command.get("concurrency") or default_concurrency),
            "--loglevel", log_level]
    if command.get("priorities"):
        argv += ["--priorities", ",".join(command["priorities"])]
    if command.get("max_tasks"):
        # Tasks a pool process runs before it is replaced by a fresh one.
        argv += ["--max-tasks-per-child", str(command["max_tasks"])]
    if command.get("timeout"):
        # The soft limit raises inside the task, so the task is failed in the registry; the
        # hard limit a little later kills a pool process that ignores it.
        timeout = float(command["timeout"])
        argv += ["--soft-time-limit", f"{timeout:g}",
                 "--time-limit", f"{timeout + HARD_LIMIT_GRACE_SECONDS:g}"]
    return argv


class Agent:
    """Runs this host's workers for the API."""

    def __init__(self, client: redis.Redis, host: str, config: dict, log_dir: Path,
                 python: str = sys.executable):
        self.client = client
        self.host = host
        self.config = config
        self.log_dir = log_dir
        self.python = python
        self.interval = config["WORKER_HEARTBEAT_SECONDS"]
        self.children: dict[int, subprocess.Popen] = {}
        self.managed: dict[int, Managed] = {}  # started workers, restarted when they exit
        self.pending: list[Pending] = []
        self.stopping = threading.Event()
        self._beat = client.register_script(AGENT_BEAT)
        self._started_at = time.time()

    def run(self) -> None:
        """Take commands until ``stopping`` is set, then stop every worker started here."""
        logger.info("worker agent on host %s ready", self.host)
        next_beat = 0.0
        while not self.stopping.is_set():
            try:
                self._reap()
                self.restart_due()  # before any Redis call: restarts go on while Redis is away
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + self.interval
                popped = self.client.blpop([keys.agent_commands(self.host)], POLL_SECONDS)
                if popped is not None:
                    self.handle(json.loads(popped[1]))
                self.settle()
            except redis.RedisError as exc:
                logger.warning("Redis unavailable: %s", exc)
                self.stopping.wait(1)
        self.shutdown()

    def beat(self) -> None:
        """Tell the API this agent is alive, and which workers it runs."""
        self._reap()
        fields = {"host": self.host, "pid": os.getpid(), "started_at": self._started_at,
                  "heartbeat_seconds": self.interval, "workers": json.dumps(sorted(self.children))}
        self._beat(keys=[keys.agent(self.host), keys.AGENTS],
                   args=[self.host, max(int(OFFLINE_AFTER_BEATS * self.interval) + 1, 2),
                         self.config["WORKER_FORGET_SECONDS"],
                         *[str(item) for pair in fields.items() for item in pair]])

    def handle(self, command: dict) -> None:
        """Acknowledge a command and act on it, unless the API already gave up on it."""
        reply_key = keys.agent_reply(command["command_id"])
        if redis_now(self.client) > command["expires_at"]:
            logger.info("command %s expired before it was read", command["command_id"])
            return
        self.reply(reply_key, {"phase": "accepted"})
        if command["action"] == START:
            self.start(reply_key, command)
        elif command["action"] == STOP:
            self.stop(reply_key, command)

    def start(self, reply_key: str, command: dict) -> None:
        """Spawn a worker; the reply waits for its first heartbeat."""
        worker_id = int(command["worker_id"])
        node = f"worker-{worker_id}@{self.host}"
        self._reap()
        if worker_id in self.children or worker_id in self.managed or self._beating(node):
            self.reply(reply_key, {"status": "exists", "node": node})
            return
        argv = worker_argv(self.python, node, worker_id, command, self.config["LOG_LEVEL"],
                           self.config["WORKER_CONCURRENCY"])
        process = self._spawn(worker_id, node, argv)
        self.pending.append(Pending(reply_key, START, worker_id, node, process.pid,
                                    time.monotonic() + self.config["WORKER_START_TIMEOUT_SECONDS"]))

    def _spawn(self, worker_id: int, node: str, argv: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"worker-{worker_id}.log"
        with open(log_path, "ab") as log:
            # A session of its own: a Ctrl-C meant for the agent's terminal does not reach
            # the worker, which the agent stops in order instead.
            process = subprocess.Popen(argv, cwd=PROJECT_DIR, env=self._worker_env(),
                                       stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.children[worker_id] = process
        logger.info("started %s (pid %s), log %s", node, process.pid, log_path)
        return process

    def restart_due(self) -> None:
        """Start again the workers whose restart delay has passed."""
        now = time.monotonic()
        for worker_id, managed in self.managed.items():
            if managed.restart_at is not None and now >= managed.restart_at:
                managed.restart_at = None
                managed.restarts += 1
                managed.spawned_at = now
                self._spawn(worker_id, managed.node, managed.argv)

    def stop(self, reply_key: str, command: dict) -> None:
        """SIGTERM a worker: Celery's warm shutdown lets the tasks in hand finish."""
        worker_id, node = int(command["worker_id"]), command["node"]
        waiting = self.managed.pop(worker_id, None)  # stopped on purpose: not to be restarted
        process = self.children.get(worker_id)
        pid = process.pid if process is not None else self._adopt(node, command.get("pid"))
        if pid is None:
            # Between a crash and its restart there is nothing to signal, only a restart to cancel.
            stopped = waiting is not None and waiting.restart_at is not None
            self.reply(reply_key, {"status": "stopped" if stopped else "unknown", "node": node})
            return
        os.kill(pid, signal.SIGTERM)
        logger.info("stopping %s (pid %s)", node, pid)
        self.pending.append(Pending(reply_key, STOP, worker_id, node, pid,
                                    time.monotonic() + self.config["WORKER_START_TIMEOUT_SECONDS"]))

    def settle(self) -> None:
        """Send the final replies whose outcome is now known."""
        self._reap()
        still = []
        for op in self.pending:
            outcome = self._outcome(op)
            if outcome is None:
                still.append(op)
            else:
                self.reply(op.reply_key, {"node": op.node, **outcome})
        self.pending = still

    def _outcome(self, op: Pending) -> dict | None:
        alive = _running(op.pid)
        late = time.monotonic() >= op.deadline
        if op.action == START:
            if not alive:
                self.children.pop(op.worker_id, None)
                return {"status": "failed", "details": {
                    "log": f"worker-{op.worker_id}.log on host {self.host}"}}
            if self._beating(op.node, op.pid):
                self._manage(op)
                return {"status": "started", "details": {"pid": op.pid}}
            if late:  # it keeps starting, and is kept running from now on
                self._manage(op)
                return {"status": "starting", "details": {"pid": op.pid}}
            return None
        if not alive:
            return {"status": "stopped"}
        return {"status": "stopping"} if late else None

    def _manage(self, op: Pending) -> None:
        self.managed[op.worker_id] = Managed(self.children[op.worker_id].args, op.node,
                                             time.monotonic())

    def reply(self, reply_key: str, body: dict) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(reply_key, json.dumps(body))
            pipe.expire(reply_key, REPLY_TTL_SECONDS)
            pipe.execute()

    def shutdown(self) -> None:
        """Warm-stop every worker started here; kill what is left after the grace."""
        for process in self.children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_WAIT_SECONDS
        for worker_id, process in self.children.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning("worker %s did not stop in time; killing it", worker_id)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        try:
            self.client.delete(keys.agent(self.host))
            self.client.zrem(keys.AGENTS, self.host)
        except redis.RedisError:
            pass  # it expires within three beats anyway
        logger.info("worker agent on host %s stopped", self.host)

    def _beating(self, node: str, pid: int | None = None) -> bool:
        fields = self.client.hgetall(keys.worker(node))
        if not fields or "stopped_at" in fields:
            return False
        fresh = redis_now(self.client) - float(fields["last_seen"]) <= (
            OFFLINE_AFTER_BEATS * float(fields.get("heartbeat_seconds", self.interval)))
        return fresh and (pid is None or fields.get("pid") == str(pid))

    def _adopt(self, node: str, pid) -> int | None:
        # A worker this agent started before it restarted: trust the heartbeat's pid only if
        # that process really is this worker.
        try:
            process = psutil.Process(int(pid))
            command_line = process.cmdline()
        except (psutil.Error, TypeError, ValueError):
            return None
        return process.pid if node in command_line else None

    def _reap(self) -> None:
        for worker_id, process in list(self.children.items()):
            if process.poll() is None:
                continue
            del self.children[worker_id]
            managed = self.managed.get(worker_id)
            if managed is None or self.stopping.is_set():
                logger.info("worker %s exited with %s", worker_id, process.returncode)
                continue
            quick = time.monotonic() - managed.spawned_at < STABLE_AFTER_SECONDS
            managed.quick_exits = managed.quick_exits + 1 if quick else 1
            delay = restart_delay(managed.quick_exits)
            managed.restart_at = time.monotonic() + delay
            logger.warning("worker %s exited with %s; starting it again in %.0f s",
                           worker_id, process.returncode, delay)

    def _worker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SECRET_SETTINGS}
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m workers.agent``."""
    parser = argparse.ArgumentParser(prog="python -m workers.agent", description=__doc__)
    parser.add_argument("--host", default=socket.gethostname(),
                        help="name of this host in worker node names (default: hostname)")
    options = parser.parse_args(argv)
    config = settings.load()
    logconfig.configure(config["LOG_FORMAT"], config["LOG_LEVEL"])
    agent = Agent(connect(config["REDIS_URL"]), options.host, config,
                  Path(config["DATA_DIR"]).resolve() / "log")

    def request_stop(signum, frame):
        agent.stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
