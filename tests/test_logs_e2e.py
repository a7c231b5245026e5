"""A request id followed from the API's log to the worker's, in real JSON log files."""
import json
from pathlib import Path

import redis as redis_py
import requests

from conftest import bearer, make_app, running_worker, submission, wait_until

# A database of its own: the debug worker must not take the session worker's messages.
DEBUG_DB = 7

# Celery prints these notices itself, outside logging, when a worker stops.
CELERY_CONSOLE_NOTICE = "worker: "


def json_lines(path: Path) -> list[dict]:
    """Every line of a log file, each of which must be one JSON object."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith(CELERY_CONSOLE_NOTICE)]
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    return records


def carrying(path: Path, request_id: str, task_id: str) -> list[dict]:
    return [record for record in json_lines(path)
            if record.get("request_id") == request_id
            and (record.get("task_id") == task_id or task_id in record.get("task_ids", ()))]


def test_a_request_id_follows_its_task_from_the_api_to_the_worker(api_server, worker,
                                                                   redis_client):
    response = requests.post(f"{api_server.url}/task", json=submission(),
                             headers={**bearer(), "X-Request-ID": "test-123"}, timeout=10)
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == "test-123"
    task_id = response.json()["task_id"]

    def completed():
        answer = requests.get(f"{api_server.url}/task/{task_id}", headers=bearer(), timeout=5)
        return answer.json() if answer.json()["status"] == "completed" else None

    assert wait_until(completed, 60, interval=0.1, message="the task")["request_id"] == "test-123"

    api_lines = wait_until(lambda: carrying(api_server.log_path, "test-123", task_id), 10,
                           message="the API's log line")
    access = [line for line in api_lines if line["logger"] == "gunicorn.access"]
    assert access, api_lines
    assert {"method": "POST", "path": "/task", "status": 202, "level": "INFO"}.items() \
        <= access[0].items()
    assert access[0]["timestamp"].endswith("+00:00")

    worker_lines = wait_until(lambda: carrying(worker.log_path, "test-123", task_id), 10,
                              message="the worker's log line")
    assert worker_lines[0]["level"] == "INFO"
    assert worker_lines[0]["logger"] == "tasks.sentiment"
    assert worker_lines[0]["completed"] == 1
    assert {"timestamp", "level", "logger", "message"} <= set(worker_lines[0])
    # At INFO, Celery's own per-message lines give way to the one above.
    assert not [line for line in json_lines(worker.log_path)
                if line["logger"] in ("celery.worker.strategy", "celery.app.trace")
                and line["level"] == "INFO"]


def test_the_access_log_keeps_query_strings_out(api_server, redis_client):
    secret = "token-in-the-url-9f8e7d"
    response = requests.get(f"{api_server.url}/health/live?access_token={secret}",
                            headers={"X-Request-ID": "query-1"}, timeout=5)
    assert response.headers["X-Request-ID"] == "query-1"
    lines = wait_until(lambda: [line for line in json_lines(api_server.log_path)
                                if line.get("request_id") == "query-1"], 10,
                       message="the access line")
    assert lines[0]["path"] == "/health/live"
    assert secret not in api_server.log_path.read_text()


def test_at_debug_each_task_is_logged_and_a_failure_names_its_request(redis_server, tmp_path):
    client = redis_py.Redis(port=redis_server.port, db=DEBUG_DB, decode_responses=True)
    client.flushdb()
    api = make_app(redis_server.database(DEBUG_DB), RATE_LIMIT="off").test_client()
    try:
        with running_worker(redis_server.database(DEBUG_DB), tmp_path, "--loglevel", "DEBUG",
                            name="debug-worker", app_module="fault_worker") as debug_worker:
            good = api.post("/task", json=submission("Lovely"),
                            headers={**bearer(), "X-Request-ID": "dbg-good"})
            bad = api.post("/task", json=submission("RAISE please"),
                           headers={**bearer(), "X-Request-ID": "dbg-bad"})
            good_id, bad_id = good.get_json()["task_id"], bad.get_json()["task_id"]

            def finished():
                lines = json_lines(debug_worker.log_path)
                done = [line for line in lines if line["logger"] == "tasks.sentiment"
                        and line["level"] == "INFO"]
                return lines if len(done) >= 2 else None

            lines = wait_until(finished, 60, interval=0.2, message="both messages")
    finally:
        client.flushdb()
    about_good = [line for line in lines if line.get("task_id") == good_id
                  and line["level"] == "DEBUG"]
    assert [line["message"].split(":")[0] for line in about_good] == [
        f"task {good_id} started (attempt 1)", f"task {good_id} completed"]
    assert all(line["request_id"] == "dbg-good" for line in about_good)
    [failure] = [line for line in lines if line["level"] == "ERROR"
                 and line.get("task_id") == bad_id]
    assert failure["request_id"] == "dbg-bad"
    assert "ValueError: the analysis raised, as asked" in failure["exc_info"]
    # At DEBUG, Celery's own per-message lines are back.
    assert any(line["logger"] == "celery.worker.strategy" for line in lines)
