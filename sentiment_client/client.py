"""A client of the sentiment API for channel developers: submit, wait, read.

Every request is retried on connection errors, 429 and 5xx answers, with exponential backoff
and full jitter, after the ``Retry-After`` the server asks for, and no sooner than the token's
rate-limit window allows once ``X-RateLimit-Remaining`` reached 0. Submissions always carry
an ``Idempotency-Key``, so a retried POST whose first answer was lost never creates a second
task.
"""
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable

import requests

from sentiment_client.errors import APIError, WaitTimeout
from sentiment_client.feed import UpdateFeed
from sentiment_client.retry import (
    RETRYABLE_STATUSES,
    backoff_delay,
    rate_limit_pause,
    retry_after,
)

DEFAULT_URL = "http://127.0.0.1:8000"
TASK_TYPE = "sentiment_analysis"
FINISHED = frozenset({"completed", "failed", "cancelled"})
MAX_BATCH_SIZE = 1000  # the API's default MAX_BATCH_SIZE
MAX_BATCH_BYTES = 15 * 2 ** 20  # under the API's default MAX_BATCH_CONTENT_LENGTH, 16 MiB
# Answers whose Retry-After means "wait": the API sends it with nothing else.
HINTED = frozenset({429, 503})
POLL_FIRST_SECONDS, POLL_MAX_SECONDS = 0.2, 2.0
MAX_WAIT_SECONDS = 30  # the most GET /task/{id}?wait= waits
FIELDS = ("text", "channel", "priority", "customer_id", "timeout")


class Client:
    """The API at ``base_url``, as the holder of ``token`` sees it."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, *,
                 request_timeout: float = 10.0, max_attempts: int = 6,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0,
                 batch_size: int = MAX_BATCH_SIZE, batch_bytes: int = MAX_BATCH_BYTES):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.request_timeout = request_timeout
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.batch_size, self.batch_bytes = batch_size, batch_bytes
        self.retried: Counter = Counter()  # retries by cause: a status, or "connection"
        self.rate_limit: int | None = None  # X-RateLimit-Limit, once an answer told it
        self._not_before = 0.0  # monotonic time before which the rate limit is spent
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "sentiment-client/0.1"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # Submissions

    def submit(self, text: str, channel: str = "chat", priority: str | None = None, *,
               customer_id: str | None = None, timeout: float | None = None,
               idempotency_key: str | None = None) -> dict:
        """Submit one message; the ``POST /task`` answer (``task_id``, ``queue_position``, ...).

        ``timeout`` is the task's: seconds it may wait for a worker before it fails.
        """
        body = task_body({"text": text, "channel": channel, "priority": priority,
                          "customer_id": customer_id, "timeout": timeout})
        key = idempotency_key or new_idempotency_key()
        response = self._request("POST", "/task", json=body, headers={"Idempotency-Key": key})
        return self._answer(response)

    def submit_many(self, items: Iterable[dict], *, idempotency_key: str | None = None,
                    on_progress: Callable[[int], None] | None = None) -> list[dict]:
        """Submit messages through ``POST /tasks``, in batches the API and the rate limit take.

        ``items`` are dicts of ``text``, ``channel`` and optionally ``priority``,
        ``customer_id``, ``timeout``. Returns, in order, each item's ``POST /task`` answer or
        its error envelope (``{"error": {...}}``). Items refused with ``QUEUE_FULL`` (nothing
        stored) are sent again after a pause, up to ``max_attempts`` times.
        ``on_progress(n)`` is called as each batch's ``n`` items are answered.
        """
        bodies = [task_body(item) for item in items]
        answers: list[dict | None] = [None] * len(bodies)
        key = idempotency_key or new_idempotency_key()
        pending = list(range(len(bodies)))
        for round_number in range(self.max_attempts):
            refused = []
            batches = self._batches(pending, bodies)
            while batches:
                batch = batches.pop(0)
                batch_key = f"{key}.{round_number}.{batch[0]}.{len(batch)}"
                response = self._request("POST", "/tasks", cost=len(batch),
                                         json={"tasks": [bodies[i] for i in batch]},
                                         headers={"Idempotency-Key": batch_key})
                if response.status_code == 429 and len(batch) > (self.rate_limit or 0) > 0:
                    # More items than the whole window allows: it can only pass in pieces.
                    batches[:0] = self._batches(batch, bodies)
                    continue
                for index, answer in zip(batch, self._answer(response)["tasks"], strict=True):
                    if error_code(answer) == "QUEUE_FULL" and round_number + 1 < self.max_attempts:
                        refused.append(index)
                    else:
                        answers[index] = answer
                if on_progress:
                    on_progress(len(batch) - sum(1 for i in batch if answers[i] is None))
            if not refused:
                break
            pending = refused
            # The batch's answer is a 202, which says nothing about when the queue has room:
            # back off with jitter.
            time.sleep(backoff_delay(round_number, self.backoff_base, self.backoff_cap))
        return answers

    def _batches(self, indexes: list[int], bodies: list[dict]) -> list[list[int]]:
        """Consecutive batches within the batch size, the body size and the rate limit."""
        size = min(self.batch_size, self.rate_limit or self.batch_size)
        batches, batch, batch_bytes = [], [], 0
        for index in indexes:
            item_bytes = len(json.dumps(bodies[index]).encode()) + 2
            if batch and (len(batch) == size or batch_bytes + item_bytes > self.batch_bytes):
                batches.append(batch)
                batch, batch_bytes = [], 0
            batch.append(index)
            batch_bytes += item_bytes
        return batches + [batch] if batch else batches

    # Reading

    def get(self, task_id: str) -> dict:
        """The ``GET /task/{id}`` answer: status, and the result once completed."""
        return self._answer(self._request("GET", f"/task/{task_id}"))

    def workers(self) -> dict:
        """``GET /workers``: every worker seen lately, with status and load."""
        return self._answer(self._request("GET", "/workers"))

    def health(self) -> dict:
        """``GET /health``; an unhealthy platform's 503 answer is returned, not raised."""
        response = self._request("GET", "/health", final={503})
        if response.status_code == 503 and "status" in _json(response):
            return _json(response)
        return self._answer(response)

    def updates(self, last_event_id: str | None = None) -> UpdateFeed:
        """The task update feed, from ``last_event_id`` on or from now: the tasks this token
        submitted, or every task for an operator token."""
        return UpdateFeed(self.base_url, self.token, last_event_id, self.max_attempts,
                          self.backoff_base, self.backoff_cap)

    # Waiting

    def wait(self, task_ids: Iterable[str], timeout: float = 60.0, *, via: str = "auto",
             on_finished: Callable[[dict], None] | None = None) -> dict[str, dict]:
        """Wait until every task is completed, failed or cancelled; their final states by id.

        ``via="feed"`` listens to the WebSocket feed, ``"poll"`` asks ``GET /task/{id}``
        with ``?wait=`` and ``If-None-Match``, ``"auto"`` tries the feed and polls when it
        refuses (no socket free on the server). ``WaitTimeout`` after ``timeout`` s.
        """
        pending = list(dict.fromkeys(task_ids))
        deadline = time.monotonic() + timeout
        if via in ("auto", "feed"):
            try:
                feed = self.updates().connect()
            except APIError:  # no socket free (503), or an older server's 403: poll instead
                if via == "feed":
                    raise
            else:
                with feed:
                    return self._wait_by_feed(feed, pending, deadline, on_finished)
        return self._wait_by_polling(pending, deadline, on_finished)

    def _wait_by_feed(self, feed: UpdateFeed, pending: list[str], deadline: float,
                      on_finished) -> dict[str, dict]:
        finished: dict[str, dict] = {}
        waiting = set(pending)

        def done(task: dict) -> None:
            waiting.discard(task["task_id"])
            finished[task["task_id"]] = task
            if on_finished:
                on_finished(task)

        def read_states() -> None:
            # Subscribed first: a task that finishes from now on is in the feed; one that
            # finished before is found here.
            for task_id in [t for t in pending if t in waiting]:
                task = self.get(task_id)
                if task["status"] in FINISHED:
                    done(task)

        read_states()
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(finished, [t for t in pending if t in waiting])
            event = feed.receive(timeout=remaining)
            if event is None:
                continue
            if event.get("type") == "gap":  # events may be lost: ask for the states again
                read_states()
            elif event.get("task_id") in waiting and event.get("status") in FINISHED:
                done({k: v for k, v in event.items() if k not in ("type", "id")})
        return {task_id: finished[task_id] for task_id in pending}

    def _wait_by_polling(self, pending: list[str], deadline: float,
                         on_finished) -> dict[str, dict]:
        """Each read is a long poll (``?wait=``): the API answers once the task finishes, so
        the tasks finished meanwhile are read at once after it. A server that answers at once
        anyway (an older one) is polled, the rounds ``POLL_FIRST_SECONDS`` apart at first."""
        finished: dict[str, dict] = {}
        etags: dict[str, str] = {}
        interval = POLL_FIRST_SECONDS
        while True:
            round_started = time.monotonic()
            for task_id in [t for t in pending if t not in finished]:
                headers = {"If-None-Match": etags[task_id]} if task_id in etags else {}
                wait = min(deadline - time.monotonic(), self.request_timeout / 2,
                           MAX_WAIT_SECONDS)
                response = self._request("GET", f"/task/{task_id}", headers=headers,
                                         params={"wait": f"{max(wait, 0):.1f}"})
                if response.status_code == 304:  # unchanged since the last look
                    continue
                task = self._answer(response)
                if response.headers.get("ETag"):
                    etags[task_id] = response.headers["ETag"]
                if task["status"] in FINISHED:
                    finished[task_id] = task
                    if on_finished:
                        on_finished(task)
            if len(finished) == len(pending):
                return {task_id: finished[task_id] for task_id in pending}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(finished, [t for t in pending if t not in finished])
            pause = interval - (time.monotonic() - round_started)  # none after a long poll
            if pause > 0:
                time.sleep(min(pause, remaining))
            interval = min(interval * 1.5, POLL_MAX_SECONDS)

    # Transport

    def _request(self, method: str, path: str, *, cost: int = 1,
                 final: set[int] = frozenset(), **kwargs) -> requests.Response:
        """One request, retried on connection errors, 429 and 5xx with backoff and jitter.

        ``final``: statuses that are the route's answer, not a failure to retry. A 429 for a
        request costing more than the whole limit is returned at once: it can never pass.
        Every attempt carries the same ``X-Request-ID``: the API's logs show them as one.
        """
        kwargs["headers"] = {"X-Request-ID": uuid.uuid4().hex, **kwargs.get("headers", {})}
        for attempt in range(self.max_attempts):
            last = attempt + 1 == self.max_attempts
            wait = self._not_before - time.monotonic()
            if wait > 0:  # the window's requests are spent: a request now would be refused
                time.sleep(wait)
            try:
                response = self.session.request(method, self.base_url + path,
                                                timeout=self.request_timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout):
                if last:
                    raise
                self.retried["connection"] += 1
                time.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap))
                continue
            self._note_rate_limit(response.headers)
            status = response.status_code
            hopeless = status == 429 and cost > (self.rate_limit or cost)
            if status not in RETRYABLE_STATUSES or status in final or hopeless or last:
                return response
            self.retried[status] += 1
            hint = retry_after(response.headers) if status in HINTED else None
            time.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, hint))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _note_rate_limit(self, headers) -> None:
        if "X-RateLimit-Limit" in headers:
            try:
                self.rate_limit = int(headers["X-RateLimit-Limit"])
            except ValueError:
                pass
        pause = rate_limit_pause(headers)
        if pause:
            self._not_before = time.monotonic() + pause

    @staticmethod
    def _answer(response: requests.Response) -> dict:
        """The answer's JSON body, or ``APIError`` for an error answer."""
        body = _json(response)
        if response.status_code >= 400:
            hint = retry_after(response.headers) if response.status_code in HINTED else None
            raise APIError.from_envelope(response.status_code, body, response.text, hint,
                                         response.headers.get("X-Request-ID"))
        return body

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def task_body(item: dict) -> dict:
    """A ``POST /task`` body from a message's fields; absent options are left out."""
    unknown = set(item) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown message fields: {', '.join(sorted(unknown))}")
    return {"type": TASK_TYPE, "data": {k: item[k] for k in FIELDS if item.get(k) is not None}}


def error_code(answer: dict) -> str | None:
    """The error code of a batch item's answer, None for an accepted one."""
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def new_idempotency_key() -> str:
    return f"sc-{uuid.uuid4().hex}"


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None
