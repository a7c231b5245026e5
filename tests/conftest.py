"""Fixtures that start real processes: redis-server, Celery workers and gunicorn.

Nothing here is mocked: end-to-end tests talk to a real Redis on a free port and to real
Celery worker processes, as production does. Each test gets an empty Redis database.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis as redis_py
import requests

from workers import embedded_redis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHANNEL_TOKEN = "channel-token-for-tests"
OTHER_CHANNEL_TOKEN = "another-channel-token"
OPERATOR_TOKEN = "operator-token-for-tests"
SECRET_KEY = "secret-key-for-tests-signs-dashboard-sessions"
VADER_DATA = Path(os.environ.get("VADER_DATA_DIR",
                                 ROOT.parent / "shared" / "data" / "vader-icwsm2014"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


def receive_until(client, done, timeout: float = 30) -> list[dict]:
    """WebSocket messages (JSON) until ``done(messages)`` holds; fails after ``timeout`` s."""
    messages = []

    def more():
        message = client.receive(timeout=0.5)
        if message is not None:
            messages.append(json.loads(message))
        return done(messages)

    wait_until(more, timeout, interval=0, message="WebSocket messages")
    return messages


class RedisServer:
    """A real redis-server process on a private port."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.process = None

    @property
    def url(self) -> str:
        return self.database(0)

    def database(self, number: int) -> str:
        """The URL of one numbered database: tests that need a Redis of their own use one."""
        return f"redis://127.0.0.1:{self.port}/{number}"

    def start(self) -> "RedisServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # configured as make run configures its Redis
            embedded_redis.argv(self.port, self.directory),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_py.Redis(port=self.port)
        wait_until(lambda: _pings(client), 10, message="redis-server to answer")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, only what the append-only file already holds survives."""
        self.process.kill()
        self.process.wait(10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis_py.ConnectionError:
        return False


def platform_environment(redis_url: str, **extra) -> dict:
    """The environment a platform process gets in the tests."""
    env = dict(os.environ)
    env.update({"REDIS_URL": redis_url, "API_TOKENS": f"{CHANNEL_TOKEN},{OTHER_CHANNEL_TOKEN}",
                "OPERATOR_TOKENS": OPERATOR_TOKEN, "SECRET_KEY": SECRET_KEY, "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1"})
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Worker:
    """A real ``celery worker`` process; ``ready`` once it says so in its log."""

    def __init__(self, redis_url: str, log_path: Path, *args: str,
                 app_module: str = "tasks.celery_app", wait: bool = True, **env):
        self.log_path = log_path
        self.log = open(log_path, "w")
        env.setdefault("PYTHONPATH", str(ROOT / "tests"))  # for tests/fault_worker.py
        self.process = subprocess.Popen(
            [str(BIN / "celery"), "--app", app_module, "worker",
             "--queues", "chat,voice,email", "--without-mingle", "--without-gossip",
             "--hostname", f"test-{log_path.stem}@%h", "--loglevel", "INFO", *args],
            cwd=ROOT, env=platform_environment(redis_url, **env), stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        try:
            wait_until(self._ready, 60, interval=0.1, message=f"worker ready ({self.log_path})")
        except BaseException:
            self.stop()
            raise

    def pool_pids(self) -> list[int]:
        """The pids of the prefork pool's processes."""
        import psutil
        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def kill(self) -> None:
        """SIGKILL the whole worker, pool included: no shutdown, no acknowledgements."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def _ready(self) -> bool:
        assert self.process.poll() is None, self.log_path.read_text()
        return " ready." in self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


class APIServer:
    """The API under gunicorn, as ``make run`` starts it."""

    def __init__(self, redis_url: str, log_path: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "python:app.gunicorn_config", "app:create_app()"],
            cwd=ROOT, env=platform_environment(redis_url, PORT=self.port, **env),
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(self._live, 30, interval=0.1, message="gunicorn to answer")
        except BaseException:
            self.stop()
            raise

    def _live(self) -> bool:
        assert self.process.poll() is None, "gunicorn exited"
        try:
            return requests.get(self.url + "/health/live", timeout=1).ok
        except (requests.ConnectionError, requests.Timeout):  # still booting
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        self.log.close()


@contextmanager
def running_worker(redis_url: str, tmp_path: Path, *args: str, name: str = "worker",
                   **options):
    """A worker for the duration of a ``with`` block."""
    worker = Worker(redis_url, tmp_path / f"{name}.log", *args, **options)
    try:
        yield worker
    finally:
        worker.stop()


class SupervisedWorker:
    """A worker restarted whenever it exits, as supervisor does under ``make run``."""

    def __init__(self, redis_url: str, tmp_path: Path, *args: str, **options):
        self.start = lambda n: Worker(redis_url, tmp_path / f"supervised-{n}.log", *args,
                                      **options)
        self.workers = [self.start(0)]
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()

    @property
    def restarts(self) -> int:
        return len(self.workers) - 1

    def _watch(self) -> None:
        while not self.stopping.wait(0.2):
            if self.workers[-1].process.poll() is not None:
                self.workers.append(self.start(len(self.workers)))

    def stop(self) -> None:
        self.stopping.set()
        self.watcher.join()
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    """A client of an emptied database; emptied again afterwards."""
    client = redis_py.Redis(port=redis_server.port, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A Redis of the test module's own: for tests that read all of it, or stop it."""
    server = RedisServer(tmp_path_factory.mktemp("private-redis")).start()
    yield server
    server.stop()


@pytest.fixture
def private_store(private_redis):
    """A client of the emptied private Redis; emptied again afterwards."""
    client = redis_py.Redis(port=private_redis.port, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def worker(redis_server, tmp_path_factory):
    """One Celery worker (prefork, two processes) shared by the session's end-to-end tests."""
    worker = Worker(redis_server.url, tmp_path_factory.mktemp("logs") / "session-worker.log",
                    "--concurrency", "2")
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def api_server(redis_server, tmp_path_factory):
    server = APIServer(redis_server.url, tmp_path_factory.mktemp("logs") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_api_server(redis_server, tmp_path_factory):
    """A gunicorn of the test module's own, for tests that count on its WebSocket slots:
    sockets that other modules' tests dropped hold the session server's slots until its
    pings find them."""
    server = APIServer(redis_server.url, tmp_path_factory.mktemp("logs") / "gunicorn.log")
    yield server
    server.stop()


def make_app(redis_url: str, **config):
    """The API with the test tokens, on ``redis_url``, with some settings changed."""
    from app import create_app
    return create_app({
        "TESTING": True, "REDIS_URL": redis_url,
        "API_TOKENS": (CHANNEL_TOKEN, OTHER_CHANNEL_TOKEN), "OPERATOR_TOKENS": (OPERATOR_TOKEN,),
        "SECRET_KEY": SECRET_KEY, **config,
    })


def error_of(response, code: str) -> dict:
    """The envelope's ``error``, once the status and the envelope's shape are checked."""
    from app.errors import CODES
    assert response.status_code == CODES[code].status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


@pytest.fixture
def app(redis_server, redis_client):
    return make_app(redis_server.url)


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(token: str = CHANNEL_TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def store_task(registry, task_id: str | None = None, channel: str = "chat",
               priority: str = "normal", text: str = "Great service!",
               queue_key: str = "nowhere", message: str | None = None, capacity: int = 0,
               **options):
    """Store one task straight in the registry; its message goes to ``queue_key``.

    The default list is one no worker reads, so the task stays as the test leaves it.
    """
    from tasks.registry import NewTask, new_task_id
    task = NewTask(task_id or new_task_id(), channel, priority,
                   {"text": text, "owner": options.pop("owner", "test")}, **options)
    [outcome], _ = registry.accept([task], [(queue_key, message or "message of " + task.task_id)],
                                   [0], capacity)
    return outcome


def submission(text: str = "Great customer service experience!", **data) -> dict:
    """A valid ``POST /task`` body."""
    return {"type": "sentiment_analysis",
            "data": {"text": text, "channel": "chat", **data}}


def read_snippets(limit: int | None = None, name: str = "tweets_GroundTruth.txt") -> list[str]:
    """Texts of the VADER paper's data set; skips the test where the data is absent."""
    path = VADER_DATA / name
    if not path.exists():
        pytest.skip(f"VADER ICWSM 2014 data not found at {path} (set VADER_DATA_DIR)")
    texts = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].strip():
                texts.append(parts[2])
    return texts[:limit] if limit else texts
