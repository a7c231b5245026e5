"""`make run`: check settings and Redis, write supervisord.conf, run supervisord until Ctrl-C."""
import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

import settings
from workers import embedded_redis, generated_secrets, procfile, readiness, supervisor_config

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
SUPERVISORD = BIN_DIR / "supervisord"
READY_TIMEOUT_SECONDS = 180
LOG_LISTENER_PRIORITY = 1
PR_SET_PDEATHSIG = 1
# sockaddr_un holds 108 bytes on Linux, fewer elsewhere.
MAX_SOCKET_PATH = 100


class StackError(RuntimeError):
    """Why the stack cannot start, worded for the person who ran `make run`."""


@dataclass
class Plan:
    """Everything decided before supervisord starts."""

    env: dict[str, str]
    data_dir: Path
    conf_path: Path
    redis_url: str
    embedded_redis: bool
    generated: set[str]
    control_password: str


def prepare(environ: Mapping[str, str], procfile_path: Path) -> Plan:
    """Validate settings, settle Redis and secrets, and write supervisord.conf."""
    if not SUPERVISORD.is_file():
        raise StackError(f"{SUPERVISORD} is missing: pip install supervisor")
    values = _load_settings(environ)
    data_dir = Path(values["DATA_DIR"]).resolve()
    _check_data_dir(data_dir)
    embedded = not environ.get("REDIS_URL")
    if embedded:
        redis_url = embedded_redis.url(values["EMBEDDED_REDIS_PORT"])
    else:
        redis_url = values["REDIS_URL"]
        _check_redis(redis_url)
    _check_ports(values, embedded)

    secrets = generated_secrets.ensure(data_dir / generated_secrets.FILE_NAME, environ)
    env = dict(environ)
    # Every setting, defaults included, so the Procfile's $VARs always expand.
    env.update({s.name: environ.get(s.name, s.default) for s in settings.SETTINGS})
    env.update(secrets.values)
    env.update(DATA_DIR=str(data_dir), REDIS_URL=redis_url, PYTHONUNBUFFERED="1")

    programs = _procfile_programs(procfile_path)
    if embedded:
        programs.insert(0, embedded_redis.program(values["EMBEDDED_REDIS_PORT"], data_dir))
    listener = supervisor_config.Program(
        "log", (sys.executable, "-m", "workers.log_listener"), LOG_LISTENER_PRIORITY)
    password = supervisor_config.control_password()
    conf_path = supervisor_config.write(data_dir, supervisor_config.render(
        programs, data_dir, PROJECT_DIR, log_listener=listener, password=password))
    return Plan(env, data_dir, conf_path, redis_url, embedded, secrets.generated, password)


def run(plan: Plan) -> int:
    """Run supervisord until it exits; SIGINT, SIGTERM and SIGHUP make it stop everything."""
    stopping = False
    process = None

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    # A session of its own: Ctrl-C reaches this launcher only, which asks supervisord once.
    process = subprocess.Popen(
        [str(SUPERVISORD), "--nodaemon", "--configuration", str(plan.conf_path)],
        env=plan.env, cwd=PROJECT_DIR, start_new_session=True, preexec_fn=_die_with_parent)
    if stopping:
        process.send_signal(signal.SIGTERM)
    if _wait_until_ready(plan, process, lambda: stopping):
        print(banner(plan, process.pid), flush=True)
    code = process.wait()
    logger.info("supervisord exited with %s", code)
    return code if code >= 0 else 128 - code


def banner(plan: Plan, supervisord_pid: int) -> str:
    """The block printed once everything answers: URLs, credentials, where things are."""
    env = plan.env
    api = f"http://127.0.0.1:{env['PORT']}"
    flower = f"http://127.0.0.1:{env['FLOWER_PORT']}"
    if "FLOWER_BASIC_AUTH" in plan.generated:
        user, _, password = env["FLOWER_BASIC_AUTH"].partition(":")
        flower += f"  user {user}, password {password}"
    else:
        flower += "  (credentials from FLOWER_BASIC_AUTH)"
    rows = [
        ("API", f"{api}  (health: {api}/health/live)"),
        ("API docs", f"{api}/docs  (OpenAPI document: {api}/openapi.json)"),
        ("Dashboard", f"{api}/dashboard  (sign in with the operator token)"),
        ("Flower", flower),
        ("Channel token", _token_row(plan, "API_TOKENS")),
        ("Operator token", _token_row(plan, "OPERATOR_TOKENS")),
        ("Redis", f"{redact(plan.redis_url)}  "
                  + (f"(embedded, append-only file in {_display(plan.data_dir / 'redis')})"
                     if plan.embedded_redis else "(from REDIS_URL)")),
        ("Data", f"{_display(plan.data_dir)}  (generated secrets in "
                 f"{_display(plan.data_dir / generated_secrets.FILE_NAME)})"),
        ("Logs", f"{_display(plan.data_dir / 'log')}, and above, prefixed by program"),
        ("Status", f"{_display(BIN_DIR / 'supervisorctl')} -c {_display(plan.conf_path)} status"),
        ("Stop", f"Ctrl-C (or kill -TERM {os.getpid()}); supervisord is pid {supervisord_pid}"),
    ]
    rule = "=" * 72
    body = "\n".join(f"  {label:<15} {value}" for label, value in rows)
    return f"\n{rule}\n  The sentiment platform is up.\n\n{body}\n{rule}\n"


def redact(url: str) -> str:
    """`url` without its password, fit to print."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m workers.stack`."""
    parser = argparse.ArgumentParser(prog="python -m workers.stack", description=__doc__)
    parser.add_argument("--procfile", type=Path, default=PROJECT_DIR / "Procfile",
                        help="Procfile whose lines become supervised programs")
    options = parser.parse_args(argv)
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "INFO",
                        format="stack  | %(levelname)s %(message)s")
    try:
        plan = prepare(os.environ, options.procfile)
    except KeyboardInterrupt:
        # Ctrl-C during the checks, before anything started.
        return 130
    except (StackError, embedded_redis.EmbeddedRedisError, procfile.ProcfileError,
            supervisor_config.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return run(plan)


def _load_settings(environ: Mapping[str, str]) -> dict:
    try:
        return settings.load(environ)
    except ValueError:
        # load() does not say which setting failed; find it for the message.
        for setting in settings.SETTINGS:
            raw = environ.get(setting.name, setting.default)
            try:
                setting.parse(raw)
            except ValueError:
                raise StackError(f"{setting.name}={raw!r} is not valid: {setting.doc}") from None
        raise


def _check_data_dir(data_dir: Path) -> None:
    socket_path = supervisor_config.socket_path(data_dir)
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise StackError(f"DATA_DIR {data_dir} is too long a path for supervisord's socket "
                         f"({socket_path}); choose a shorter DATA_DIR.")
    # Checked before anything is written: a second stack would overwrite the running
    # one's supervisord.conf.
    if readiness.unix_socket_answers(socket_path):
        raise StackError(f"a stack is already running with DATA_DIR={data_dir}: stop it "
                         "first, or give this one another DATA_DIR.")


def _check_redis(url: str) -> None:
    try:
        readiness.wait_for_redis(url, attempts=5, interval=1.0)
    except redis.RedisError as error:
        raise StackError(
            f"REDIS_URL={redact(url)} does not answer PING ({error}). Start that Redis or "
            "fix REDIS_URL; unset REDIS_URL to have `make run` start an embedded Redis."
        ) from None


def _check_ports(values: Mapping, embedded: bool) -> None:
    names = ["PORT", "FLOWER_PORT"] + (["EMBEDDED_REDIS_PORT"] if embedded else [])
    for name in names:
        if readiness.port_in_use(values[name]):
            hint = (" or set REDIS_URL to use the Redis already running there"
                    if name == "EMBEDDED_REDIS_PORT" else "")
            raise StackError(f"port {values[name]} ({name}) is already in use: stop what "
                             f"listens there, set {name} to a free port{hint}.")


def _procfile_programs(path: Path) -> list[supervisor_config.Program]:
    try:
        entries = procfile.read(path)
    except FileNotFoundError:
        raise StackError(f"no Procfile at {path}") from None
    first = supervisor_config.PROCFILE_FIRST_PRIORITY
    return [supervisor_config.procfile_program(name, command, BIN_DIR, priority)
            for priority, (name, command) in enumerate(entries, start=first)]


def _wait_until_ready(plan: Plan, process: subprocess.Popen,
                      stopping: Callable[[], bool]) -> bool:
    env = plan.env
    pending = {
        # Each program stayed up for its startsecs, the Celery worker included.
        "supervisor": lambda: readiness.programs_running(
            supervisor_config.socket_path(plan.data_dir), supervisor_config.CONTROL_USER,
            plan.control_password),
        "Redis": lambda: readiness.redis_answers(plan.redis_url),
        "API": lambda: readiness.http_status(
            f"http://127.0.0.1:{env['PORT']}/health/live") == 200,
        "Flower": lambda: readiness.http_status(
            f"http://127.0.0.1:{env['FLOWER_PORT']}/") is not None,
    }
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if stopping() or process.poll() is not None:
            return False
        pending = {name: check for name, check in pending.items() if not check()}
        if not pending:
            return True
        time.sleep(0.5)
    logger.warning("%s not answering after %d s; see %s and `supervisorctl -c %s status`",
                   ", ".join(pending), READY_TIMEOUT_SECONDS,
                   _display(plan.data_dir / "log"), _display(plan.conf_path))
    return False


def _token_row(plan: Plan, name: str) -> str:
    if name in plan.generated:
        return plan.env[name]
    # User-supplied tokens are never echoed.
    return f"(from {name})" if plan.env.get(name) else "(none)"


def _display(path: Path) -> str:
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def _die_with_parent() -> None:
    # Runs in the child before exec: should this launcher be killed outright (SIGKILL),
    # the kernel sends supervisord SIGTERM, so no program outlives the stack.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
