"""Start-up objects out of the garbage collector's way, so full collections stay short.

A loaded API or worker process holds a few hundred thousand objects that live as long as it
does (Flask or Celery, VADER's lexicon, their imports), and every full collection walks them
all. Under ``POST /task`` load a full collection stopped a gunicorn worker for 27-60 ms, every
request it held waiting; after ``gc.freeze()`` at the end of start-up it takes under 1 ms.
gunicorn calls ``freeze`` once its worker has loaded the app (``app.gunicorn_config``);
Celery workers freeze through the signals below.
"""
import gc

from celery.signals import worker_process_init, worker_ready


def freeze() -> None:
    """Move every object alive now to the permanent generation, which collections skip."""
    gc.freeze()


@worker_ready.connect
def _freeze_main_process(**_) -> None:
    freeze()  # a solo pool (the urgent worker) runs its tasks here


@worker_process_init.connect
def _freeze_pool_process(**_) -> None:
    freeze()
