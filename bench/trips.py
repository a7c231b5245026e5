"""End-to-end timing of messages: whole trips polled over HTTP, or samples sent under load."""
import threading
import time

from bench.client import Client
from bench.stacks import Finish, Stack

FIRST_POLL_SECONDS = 0.001
LONGEST_POLL_SECONDS = 0.01
POLL_GROWTH = 1.3


def trip(stack: Stack, client: Client, body: dict, timeout: float) -> dict:
    """POST one message and read its GET until finished: the seconds each part took.

    Each GET waits for the task where the stack's API can (``Stack.wait_query``); otherwise
    the reads are polls, ``FIRST_POLL_SECONDS`` apart at first."""
    started, began_wall = time.perf_counter(), time.time()
    status, answer, submit_seconds = client.post("/task", body)
    if not 200 <= status < 300 or not isinstance(answer, dict):
        return {"error": f"POST /task answered {status}: {str(answer)[:200]}"}
    task_id = answer["task_id"]
    deadline = started + timeout
    pause = FIRST_POLL_SECONDS
    polls = 0
    while time.perf_counter() < deadline:
        status, answer, _ = client.get(f"/task/{task_id}{stack.wait_query}")
        polls += 1
        if status == 200 and stack.is_finished(answer):
            return {"task_id": task_id, "seconds": time.perf_counter() - started,
                    "submit_seconds": submit_seconds, "polls": polls, "began": began_wall}
        time.sleep(pause)
        pause = min(pause * POLL_GROWTH, LONGEST_POLL_SECONDS)
    return {"task_id": task_id, "error": f"not finished within {timeout}s"}


def warm_up(stack: Stack, bodies: list[dict], timeout: float = 30) -> list[str]:
    """Trips through a fresh stack (lexicon loads, lazy imports), so no scenario pays for them.

    Returns what went wrong, if anything.
    """
    client = stack.client()
    try:
        return [t["error"] for t in (trip(stack, client, body, timeout) for body in bodies)
                if "error" in t]
    finally:
        client.close()


class Sampler(threading.Thread):
    """Posts one message every ``interval`` seconds until ``stop()``, noting when each left.

    It does not poll: once every task finished, ``latencies`` reads each sample's finish
    time as the server recorded it (the registry's ``finished_at``, the result backend's
    ``date_done``), so sampling adds a few POSTs to the load and no GETs.
    """

    def __init__(self, stack: Stack, bodies: list[dict], interval: float, max_samples: int):
        super().__init__(name=f"{stack.name}-sampler", daemon=True)
        self.stack = stack
        self.bodies = bodies
        self.interval = interval
        self.max_samples = max_samples
        self.sent: list[tuple[str, float]] = []  # task id, epoch seconds the POST began
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        client = self.stack.client()
        try:
            for index in range(self.max_samples):
                if self._stop_event.is_set():
                    return
                began, began_wall = time.monotonic(), time.time()
                try:
                    status, answer, _ = client.post("/task", self.bodies[index % len(self.bodies)])
                    if 200 <= status < 300 and isinstance(answer, dict):
                        self.sent.append((answer["task_id"], began_wall))
                    else:
                        self.errors.append(f"POST /task answered {status}: {str(answer)[:120]}")
                except OSError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - began)))
        finally:
            client.close()

    def stop(self) -> None:
        self._stop_event.set()

    def latencies(self, finish_times: dict[str, Finish]) -> list[float]:
        """Seconds from each sample's POST to its recorded finish; unfinished ones left out."""
        return [finish_times[task_id].finished - sent for task_id, sent in self.sent
                if task_id in finish_times]
