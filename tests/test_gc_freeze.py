"""Worker and API processes freeze their start-up objects once they are ready."""
import gc

import pytest
from celery.signals import worker_process_init, worker_ready

import tasks.celery_app  # noqa: F401  (connects the worker signals)


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize("signal", [worker_ready, worker_process_init],
                         ids=["worker main process", "pool process"])
def test_a_ready_worker_process_freezes_what_it_holds(unfrozen, signal):
    assert gc.get_freeze_count() == 0

    signal.send(sender=None)

    assert gc.get_freeze_count() > 0


def test_a_gunicorn_worker_freezes_once_the_app_is_loaded(unfrozen, monkeypatch):
    import signal as signals

    from app import gunicorn_config

    monkeypatch.setattr(signals, "signal", lambda *_: None)  # keep the test's own handlers

    gunicorn_config.post_worker_init(worker=object())

    assert gc.get_freeze_count() > 0
