"""The processes a run starts: redis-server, gunicorn, Celery workers; all stopped at the end.

Each process runs in a session (process group) of its own, so stopping it stops its children
too (gunicorn's workers, Celery's pool), and a Ctrl-C in the terminal reaches only the bench,
which then stops them in order. Each also gets SIGTERM when the bench dies without cleaning up.
"""
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from workers import embedded_redis

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 20


class StartError(RuntimeError):
    """A process did not come up; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Process:
    """One started program, its output in ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")  # closed in stop()
        # Started from the main thread only: PDEATHSIG fires when the forking thread exits.
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        logger.debug("started %s (pid %d): %s", name, self.popen.pid, " ".join(argv))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM to the whole group, without waiting."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM to the whole group, SIGKILL after ``timeout``."""
        try:
            if self.alive():
                os.killpg(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning("%s did not stop within %ss: killing it", self.name, timeout)
                    os.killpg(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(5)
            else:
                # The leader is gone; make sure nothing it left in its group lives on.
                os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()

    def failed(self, what: str) -> StartError:
        state = "exited" if not self.alive() else "still running"
        return StartError(f"{self.name} {what} ({state}); log {self.log_path}:\n{self.tail()}")


class ProcessSet:
    """Every process a run started; ``stop_all`` stops them newest first."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start(self, name: str, argv: list[str], **kwargs) -> Process:
        process = Process(name, argv, self.log_dir, **kwargs)
        self.processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in self.processes[1:]:  # all but the first (Redis) wind down together
            process.terminate()
        while self.processes:
            process = self.processes.pop()
            try:
                process.stop()
            except Exception:  # keep stopping the others
                logger.exception("could not stop %s", process.name)


def start_redis(processes: ProcessSet, directory: Path) -> tuple[Process, int]:
    """A private redis-server configured as ``make run`` configures its own."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = processes.start("redis", list(embedded_redis.argv(port, directory)))
    client = redis.Redis(port=port, socket_timeout=1)

    def answers() -> bool:
        if not process.alive():
            raise process.failed("exited at start")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    if not wait_for(answers, 10):
        raise process.failed("did not answer PING within 10s")
    client.close()
    return process, port


def http_answers(port: int, path: str = "/health/live") -> bool:
    """True when something answers HTTP on 127.0.0.1:``port`` (any status)."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def wait_http(process: Process, port: int, timeout: float = 60) -> None:
    """Wait until the server on ``port`` answers; raise with its log when it does not."""
    def up() -> bool:
        if not process.alive():
            raise process.failed("exited at start")
        return http_answers(port)

    if not wait_for(up, timeout, interval=0.1):
        raise process.failed(f"did not answer HTTP within {timeout}s")


def wait_worker(process: Process, celery_app, hostname: str, timeout: float = 60) -> None:
    """Wait until the Celery worker ``hostname`` answers a ping through the broker."""
    def pongs() -> bool:
        if not process.alive():
            raise process.failed("exited at start")
        try:
            return bool(celery_app.control.ping(destination=[hostname], timeout=0.5, limit=1))
        except Exception:  # the broker may refuse while the worker declares its queues
            logger.debug("ping of %s failed", hostname, exc_info=True)
            return False

    if not wait_for(pongs, timeout, interval=0.2):
        raise process.failed(f"did not answer a ping within {timeout}s")
