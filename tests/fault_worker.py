"""The real Celery app, for fault-injection tests: a text can ask its analysis to misbehave.

``STALL <seconds> ...`` sleeps before analysing; ``CRASH ...`` kills the pool process
running it, as a segfaulting library would; ``RAISE ...`` raises, as a bug in the analysis
would. Everything else (broker, registry, task code) is
the production code, started as a real worker with ``--app fault_worker``.
"""
import os
import signal
import time

from tasks import analysis
from tasks.celery_app import celery_app  # noqa: F401  (the app the worker runs)

_analyse = analysis.analyse


def misbehaving_analyse(text: str) -> dict:
    if text.startswith("STALL "):
        time.sleep(float(text.split()[1]))
    if text.startswith("CRASH"):
        os.kill(os.getpid(), signal.SIGKILL)
    if text.startswith("RAISE"):
        raise ValueError("the analysis raised, as asked")
    return _analyse(text)


analysis.analyse = misbehaving_analyse
