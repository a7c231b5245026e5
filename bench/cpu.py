"""CPU time by process during a scenario: where each task's time went, measured.

A snapshot reads the CPU seconds (user + system) of the stack's API, its worker's main
process, the worker's pool and Redis, and each figure a scenario reports is the difference
of two snapshots divided by the tasks it completed. A process that exited in between (a
pool process replaced, an AOF rewrite) is counted through its parent's ``children_*``
times, which include every child it waited for.
"""
import psutil

from bench.processes import Process
from bench.stacks import Stack

ROLES = ("api", "worker_main", "worker_pool", "redis")


def _own(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _children(process: psutil.Process) -> float:
    """CPU of the children, living and reaped."""
    times = process.cpu_times()
    total = times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            total += _own(child)
        except psutil.NoSuchProcess:  # exited since listed: its parent counts it once reaped
            pass
    return total


def snapshot(stack: Stack, redis_pid: int) -> dict[str, float]:
    """CPU seconds used so far by each role of ``stack`` and by Redis."""
    def root(process: Process | None) -> psutil.Process | None:
        return psutil.Process(process.pid) if process is not None and process.alive() else None

    seconds = dict.fromkeys(ROLES, 0.0)
    api = root(stack.api)
    if api is not None:
        seconds["api"] = _own(api) + _children(api)
    for worker in stack.workers.values():
        main = root(worker)
        if main is not None:
            seconds["worker_main"] += _own(main)
            seconds["worker_pool"] += _children(main)
    redis = psutil.Process(redis_pid)
    seconds["redis"] = _own(redis) + _children(redis)
    return seconds


def per_task_us(before: dict[str, float], after: dict[str, float], tasks: int) -> dict:
    """Microseconds of CPU per task, by role and in total; empty without tasks."""
    if not tasks:
        return {}
    spent = {role: (after[role] - before[role]) * 1e6 / tasks for role in ROLES}
    spent["total"] = sum(spent.values())
    return {role: round(value, 1) for role, value in spent.items()}
