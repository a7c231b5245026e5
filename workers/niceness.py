"""A worker that takes ``normal`` or ``low`` messages yields the CPU to the urgent path.

On a host that also runs the API, Redis or the urgent lane (as ``make run`` does), a worker
draining a backlog keeps every core busy, and each step of a ``high`` message's trip (the
API's answer, the urgent worker's analysis, Redis's replies) then waits for a backlog
process to give up its core. Such a worker lowers its scheduling priority to
``WORKER_NICENESS`` as it starts, before its pool forks (the pool's processes inherit it):
the kernel then runs the urgent path first whenever both want a core, and the backlog gets
every cycle they leave. Only contention changes anything, so a worker alone on its host
runs as fast as before. The urgent lane (``--priorities high``) keeps its priority.
"""
import os

from celery import bootsteps

import settings
from workers.priorities import parse


class YieldToUrgentWork(bootsteps.Step):
    """Lowers the priority of a worker that takes more than ``high`` messages."""

    label = "niceness"

    def __init__(self, worker, priorities: str | None = None, **options):
        super().__init__(worker, **options)
        niceness = settings.load()["WORKER_NICENESS"]
        if niceness and set(parse(priorities)) != {"high"}:
            # Never raise a priority an operator lowered further (nice -n 19 celery ...).
            current = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, 0, max(current, niceness))
