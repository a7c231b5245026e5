"""One daemon thread per process for a background reader (a greenlet under gevent)."""
import os
import threading
from collections.abc import Callable


class ProcessThread:
    """``target`` on a daemon thread of this process. It is not running here when it never
    started, ended, was forgotten, or started before gunicorn forked this process."""

    def __init__(self, target: Callable[[], None], name: str):
        self.target, self.name = target, name
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def forget(self) -> None:
        """Called by the thread as it ends: the next ``start`` need not wait for it."""
        self._thread = None
