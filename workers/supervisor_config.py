"""Write the supervisord.conf that runs the stack's programs."""
import os
import pwd
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

# Procfile programs start after Redis and the log listener, in Procfile order.
PROCFILE_FIRST_PRIORITY = 100
LOG_MAX_BYTES = "10MB"
CONF_NAME = "supervisord.conf"
CONTROL_USER = "stack"


class ConfigError(ValueError):
    """A value that supervisord's config file cannot carry."""


@dataclass(frozen=True)
class Program:
    """One supervised program: its name, argv, start order and stop grace period."""

    name: str
    argv: tuple[str, ...]
    priority: int
    stopwaitsecs: int = 10


def procfile_program(name: str, command: str, bin_dir: Path, priority: int) -> Program:
    """A Procfile line as a program run by `sh`, so `$VAR` expands from the environment."""
    executable, _, arguments = command.partition(" ")
    local = Path(bin_dir) / executable
    # The virtualenv's gunicorn and celery, whatever PATH says.
    if "/" not in executable and local.is_file():
        command = f"{shlex.quote(str(local))} {arguments}".rstrip()
    # `exec` makes the program itself, not a shell, the process supervisor signals.
    return Program(name, ("/bin/sh", "-c", f"exec {command}"), priority, stopwaitsecs=20)


def socket_path(data_dir: Path) -> Path:
    """Where supervisord listens for supervisorctl."""
    return Path(data_dir) / "supervisor.sock"


def control_password() -> str:
    """A new password for supervisorctl, for one run of the stack."""
    return secrets.token_urlsafe(16)


def render(programs: list[Program], data_dir: Path, directory: Path,
           log_listener: Program | None = None, password: str | None = None) -> str:
    """The text of supervisord.conf for `programs`, logs and socket under `data_dir`."""
    data_dir, log_dir = Path(data_dir), Path(data_dir) / "log"
    # The socket is already owner-only (chmod 0700); credentials mostly spare every start
    # supervisord's CRIT warning about an unauthenticated server.
    credentials = {"username": CONTROL_USER, "password": password or control_password()}
    sections = [
        "; Written by `python -m workers.stack` at every start: edit the Procfile instead.",
        _section("supervisord", {
            "nodaemon": "true",
            "logfile": log_dir / "supervisord.log",
            "logfile_maxbytes": LOG_MAX_BYTES,
            "pidfile": data_dir / "supervisord.pid",
            "childlogdir": log_dir,
            "directory": directory,
            # Whoever runs the stack; naming them spares root its CRIT warning, and
            # supervisord only switches users when this differs from the current one.
            "user": pwd.getpwuid(os.getuid()).pw_name,
        }),
        _section("unix_http_server",
                 {"file": socket_path(data_dir), "chmod": "0700", **credentials}),
        _section("rpcinterface:supervisor", {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface",
        }),
        _section("supervisorctl",
                 {"serverurl": f"unix://{socket_path(data_dir)}", **credentials}),
    ]
    if log_listener is not None:
        sections.append(_section(f"eventlistener:{log_listener.name}", {
            "command": shlex.join(log_listener.argv),
            "directory": directory,
            "priority": log_listener.priority,
            "events": "PROCESS_LOG",
            # Room for bursts of output while the listener writes; beyond it lines reach
            # only the log files.
            "buffer_size": 4096,
            "autorestart": "true",
            # The listener's stderr is the prefixed output of every program.
            "stderr_logfile": "/dev/stdout",
            "stderr_logfile_maxbytes": 0,
            # Its stdout is the event protocol, not output anyone reads.
            "stdout_logfile": "NONE",
        }))
    for program in programs:
        sections.append(_section(f"program:{program.name}", _program_options(
            program, directory, log_dir, events=log_listener is not None)))
    return "\n\n".join(sections) + "\n"


def write(data_dir: Path, text: str) -> Path:
    """Write the config into `data_dir` with the log directory it names; its path."""
    path = Path(data_dir) / CONF_NAME
    (path.parent / "log").mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    # Owner-only from the first byte, like the socket it names: it holds supervisorctl's
    # password.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return path


def _program_options(program: Program, directory: Path, log_dir: Path,
                     events: bool) -> dict:
    return {
        "command": shlex.join(program.argv),
        "directory": directory,
        "priority": program.priority,
        "autostart": "true",
        "autorestart": "true",
        "startsecs": 2,
        # Generous: a program that starts before Redis answers fails and is retried.
        "startretries": 10,
        "stopsignal": "TERM",
        "stopwaitsecs": program.stopwaitsecs,
        # gunicorn's and Celery's children are stopped, and killed, with their parent.
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": log_dir / f"{program.name}.log",
        "stdout_logfile_maxbytes": LOG_MAX_BYTES,
        "stdout_logfile_backups": 3,
        "stdout_events_enabled": "true" if events else "false",
    }


def _section(title: str, options: dict) -> str:
    lines = [f"[{title}]"]
    lines.extend(f"{key}={_escape(str(value))}" for key, value in options.items())
    return "\n".join(lines)


def _escape(value: str) -> str:
    # supervisord reads values with configparser (inline comments after " ;" or " #")
    # and then expands them with Python's % operator, so `%` must be doubled.
    if "\n" in value or " ;" in value or " #" in value or "\t;" in value or "\t#" in value:
        raise ConfigError(f"supervisord.conf cannot carry this value: {value!r}")
    return value.replace("%", "%%")
