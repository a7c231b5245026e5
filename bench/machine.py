"""What the figures were measured on: cores, CPU, RAM, load and software versions."""
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version

import psutil


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def tool_version(argv: list[str]) -> str | None:
    """The first line a tool prints about its version, or None when it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return ((done.stdout or done.stderr).strip().splitlines() or [None])[0]


def describe() -> dict:
    """The machine and software the run measures, Redis's version added once it runs."""
    return {
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "ram_bytes": psutil.virtual_memory().total,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "celery": package_version("celery"),
        "kombu": package_version("kombu"),
        "redis_py": package_version("redis"),
        "gunicorn": package_version("gunicorn"),
        "flask": package_version("flask"),
        "vaderSentiment": package_version("vaderSentiment"),
    }
