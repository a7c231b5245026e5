"""The soft time limit for a worker whose pool is ``solo`` (the urgent lane's).

Celery enforces time limits from the prefork pool's parent, which signals the child running
the task; a solo pool runs each task in the worker's own process and Celery applies no limit
there. So one text slow enough to analyse would hold the urgent lane for as long as it took.
Here the soft limit is an interval timer armed around each task (``SIGALRM``), whose handler
raises ``SoftTimeLimitExceeded`` in the task as prefork's signal does: the task fails
``TASK_TIMEOUT`` and the worker takes the next one. The limit is the one prefork would use:
the message's, the task's, else the worker's (``TASK_SOFT_TIME_LIMIT_SECONDS`` or
``--soft-time-limit``). There is no hard limit: the handler runs between Python bytecodes,
and analysis is Python; a task stuck anyway is requeued to another worker by the requeue
sweep.
"""
import signal

from celery.concurrency.solo import TaskPool as SoloPool
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, task_prerun, worker_init

_worker_soft_limit: float | None = None
_armed = False  # set in a solo worker only: prefork pool processes keep Celery's own limits


def _raise_soft_limit(signum, frame):
    raise SoftTimeLimitExceeded("the task ran past its soft time limit")


@worker_init.connect
def _arm_in_solo_workers(sender=None, **_) -> None:
    global _worker_soft_limit, _armed
    if sender is not None and sender.pool_cls is SoloPool:
        _worker_soft_limit = sender.soft_time_limit
        _armed = True
        signal.signal(signal.SIGALRM, _raise_soft_limit)


def soft_limit_of(task) -> float | None:
    """The soft limit prefork would apply: the message's, the task's, else the worker's."""
    from_message = (task.request.timelimit or (None, None))[1]
    return from_message or task.soft_time_limit or _worker_soft_limit


@task_prerun.connect
def _start_timer(task=None, **_) -> None:
    if _armed and task is not None:
        limit = soft_limit_of(task)
        if limit:
            signal.setitimer(signal.ITIMER_REAL, limit)


@task_postrun.connect
def _stop_timer(**_) -> None:
    if _armed:
        signal.setitimer(signal.ITIMER_REAL, 0)
