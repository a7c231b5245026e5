"""schemathesis against the live API: every HTTP operation of /openapi.json, fuzzed.

gunicorn, a real Redis and a real Celery worker, as in production; the operator token opens
every route. No agent runs, so ``POST /workers`` answers 503 ``WORKER_OFFLINE`` at once; the
one worker is named ``test-worker@<host>``, which no generated id matches, so
``DELETE /workers/{id}`` answers 404: nothing here starts or stops a worker.
"""
import pytest
import requests
import schemathesis

from app.openapi import build_document
from conftest import (
    OPERATOR_TOKEN,
    APIServer,
    RedisServer,
    Worker,
    make_app,
    submission,
    wait_until,
)

EXAMPLES_PER_OPERATION = 100  # ~20 s for all operations, positive and negative data
AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SERVER_LIMIT_REQUEST_LINE = 8189  # gevent's server refuses a longer request line
# Batches count each item against the rate limit: fuzzed ones would spend it in seconds.
# Small batches keep the run short; the limit's headers stay on.
# Generated cases send wrong tokens by the hundred, as a token guesser would: counting them
# would lock the tests' own address out (tests/test_failed_auth.py checks that lock).
SETTINGS = {"RATE_LIMIT": "1000000/minute", "AUTH_FAILURE_LIMIT": "off", "MAX_BATCH_SIZE": 20}
# schemathesis's fixture-based loader does not run under pytest 9 (it sets Node._nodeid), so
# the operations are collected from the document an app with the test settings builds; the
# server fixture checks that the live server serves this very document.
DOCUMENT = build_document(make_app("redis://127.0.0.1:1/0", **SETTINGS))
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict({
    "auth": {"openapi": {"bearerAuth": {"bearer": OPERATOR_TOKEN}}},
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none"},
    "request-timeout": 10,
    "operations": [
        # With no agent, 503 WORKER_OFFLINE is this route's documented, correct answer.
        {"include-operation-id": "workers.start_worker", "checks": {
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", 503]}}},
        # A URL the document allows is still refused (400 URL_NOT_ALLOWED) when its host does
        # not resolve or resolves to an internal address, which no schema can say.
        *({"include-operation-id": operation, "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 429, "5xx"]}}}
          for operation in ("tasks.submit_task", "webhooks.subscribe")),
        # A batch answers 202 with an error per invalid item, by design, not 400 for all.
        {"include-operation-id": "tasks.submit_batch", "checks": {
            "negative_data_rejection": {"enabled": False}}},
        # Only cursors the API wrote continue a listing, and `until` must follow `since`:
        # rules a schema cannot state, so some schema-valid queries are refused, by design.
        {"include-operation-id": "search.list_tasks", "checks": {
            "positive_data_acceptance": {"enabled": False}}},
    ],
}))


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    """gunicorn on its own Redis, with one worker consuming every channel."""
    directory = tmp_path_factory.mktemp("fuzz")
    redis_server = RedisServer(directory / "redis").start()
    worker = Worker(redis_server.url, directory / "worker.log", "--concurrency", "1")
    api = APIServer(redis_server.url, directory / "api.log", **SETTINGS)
    try:
        assert requests.get(f"{api.url}/openapi.json", timeout=10).json() == DOCUMENT
        yield api
    finally:
        api.stop()
        worker.stop()
        redis_server.stop()


@schema.parametrize()
def test_every_operation_answers_as_documented(case, live_api):
    response = case.call(base_url=live_api.url)
    if response.status_code == 414:
        # The server itself refuses a request line over its limit, before the app runs:
        # no route can answer that in the envelope. Only a line that long may get it.
        request_line = f"{case.method} {response.request.path_url} HTTP/1.1"
        assert len(request_line.encode()) > SERVER_LIMIT_REQUEST_LINE, request_line
        return
    case.validate_response(response, transport_kwargs={"base_url": live_api.url})


def finished(url: str, task_id: str) -> dict | None:
    task = requests.get(f"{url}/task/{task_id}", headers=AUTH, timeout=10).json()
    return task if task["status"] in ("completed", "failed") else None


def listed_workers(url: str) -> list[dict]:
    return requests.get(f"{url}/workers", headers=AUTH, timeout=10).json()["workers"]


def submit(url: str, body: dict, **headers) -> str:
    response = requests.post(f"{url}/task", json=body, headers={**AUTH, **headers}, timeout=10)
    assert response.status_code in (200, 202), response.text
    return response.json()["task_id"]


def test_real_tasks_and_workers_answer_as_documented(live_api):
    """Answers random ids never reach: a completed and a failed task, a live worker."""
    url = live_api.url
    completed_id, expired_id = submit(url, submission()), submit(url, submission(timeout=1e-6))
    completed = wait_until(lambda: finished(url, completed_id), 30, message="a completed task")
    expired = wait_until(lambda: finished(url, expired_id), 30, message="an expired task")
    assert (completed["status"], expired["error"]["code"]) == ("completed", "TASK_EXPIRED")
    workers = wait_until(lambda: listed_workers(url), 30, message="the worker's heartbeat")
    cases = [
        schema["/task/{task_id}"]["GET"].Case(path_parameters={"task_id": completed_id}),
        schema["/task/{task_id}"]["GET"].Case(path_parameters={"task_id": expired_id}),
        schema["/tasks/failed"]["GET"].Case(query={"channel": "chat"}),
        schema["/task/{task_id}/retry"]["POST"].Case(path_parameters={"task_id": expired_id}),
        schema["/workers/{worker_id}"]["GET"].Case(
            path_parameters={"worker_id": str(workers[0]["id"])}),
        schema["/metrics"]["GET"].Case(headers={"Accept": "text/plain; version=0.0.4"}),
    ]
    key = {"Idempotency-Key": "fuzz-replay-1"}
    submit(url, submission(), **key)
    cases.append(schema["/task"]["POST"].Case(body=submission(), headers=key))
    statuses = [case.call_and_validate(base_url=url, headers=AUTH).status_code
                for case in cases]

    assert statuses == [200, 200, 200, 202, 200, 200, 200]
