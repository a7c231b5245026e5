"""A request id followed from the API's log to the worker's, in real JSON log files."""
import json
from pathlib import Path

import requests

from conftest import bearer, submission, wait_until

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
