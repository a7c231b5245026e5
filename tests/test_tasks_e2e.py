"""End to end over HTTP: gunicorn, a real Redis and a real Celery worker."""
import pytest
import requests
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import settings
from conftest import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    OTHER_CHANNEL_TOKEN,
    bearer,
    read_snippets,
    store_task,
    submission,
    wait_until,
)
from tasks.analysis import RESULT_FIELDS, analyse
from tasks.registry import TaskRegistry

STOCK_VADER = SentimentIntensityAnalyzer()  # the library as shipped, not our subclass


@pytest.fixture
def api(api_server, worker, redis_client):
    """The base URL of a running API whose worker serves an emptied Redis."""
    return api_server.url


def submit(api, body, token=CHANNEL_TOKEN):
    response = requests.post(f"{api}/task", json=body, headers=bearer(token), timeout=5)
    assert response.status_code == 202, response.text
    return response.json()


def wait_finished(api, task_id, token=CHANNEL_TOKEN, timeout=30):
    def finished():
        answer = requests.get(f"{api}/task/{task_id}", headers=bearer(token), timeout=5).json()
        return answer if answer["status"] in ("completed", "failed") else None
    return wait_until(finished, timeout, message=f"{task_id} to finish")


def test_submit_answers_the_seed_fields(api):
    accepted = submit(api, submission(customer_id="CUST123", priority="high"))

    assert accepted["status"] == "accepted"
    assert accepted["task_id"].startswith("task_") and len(accepted["task_id"]) == 37
    assert accepted["queue_position"] == 1


def test_completed_task_has_vader_scores_and_echoes(api):
    text = "Great customer service experience!"
    task_id = submit(api, submission(text, customer_id="CUST123", priority="high"))["task_id"]

    task = wait_finished(api, task_id)

    assert task["status"] == "completed"
    result = task["result"]
    assert result["scores"] == STOCK_VADER.polarity_scores(text)
    assert result["sentiment"] == "positive"
    assert 0 < result["confidence"] <= 1
    assert result["processing_time_ms"] > 0
    assert result["processing_time"].endswith("s")
    assert (result["channel"], result["customer_id"], result["priority"]) == (
        "chat", "CUST123", "high")
    assert task["attempts"] == 1
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]


def test_estimate_comes_from_measured_completions(api):
    first = submit(api, submission())
    assert first["estimated_process_time"] is None  # nothing measured yet in an empty Redis
    wait_finished(api, first["task_id"])

    later = submit(api, submission())

    assert later["estimated_process_time_ms"] > 0
    assert later["estimated_process_time"].endswith("s")


def test_results_equal_in_process_analysis_for_real_snippets(api):
    texts = read_snippets(300)
    task_ids = [submit(api, submission(text))["task_id"] for text in texts]

    for text, task_id in zip(texts, task_ids, strict=True):
        task = wait_finished(api, task_id)
        assert task["status"] == "completed"
        result = task["result"]
        assert result["scores"] == STOCK_VADER.polarity_scores(text), text
        # Less what the pipeline adds: timing, the task's echo, the escalation verdict.
        analysed = {key: value for key, value in result.items() if key in RESULT_FIELDS}
        assert analysed == analyse(text), text
        assert list(analysed) == list(RESULT_FIELDS)  # every field, in the analysis's order


def test_a_channel_token_reads_only_its_own_tasks(api):
    task_id = submit(api, submission())["task_id"]
    wait_finished(api, task_id)

    other = requests.get(f"{api}/task/{task_id}", headers=bearer(OTHER_CHANNEL_TOKEN), timeout=5)
    operator = requests.get(f"{api}/task/{task_id}", headers=bearer(OPERATOR_TOKEN), timeout=5)

    assert other.status_code == 404
    assert other.json()["error"]["code"] == "TASK_NOT_FOUND"
    assert operator.status_code == 200


def test_unknown_task_is_404_in_the_envelope(api):
    response = requests.get(f"{api}/task/task_{'0' * 32}", headers=bearer(), timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "TASK_NOT_FOUND"


def test_a_finished_task_is_cacheable_and_revalidates_with_304(api):
    task_id = submit(api, submission())["task_id"]
    wait_finished(api, task_id)
    first = requests.get(f"{api}/task/{task_id}", headers=bearer(), timeout=5)

    again = requests.get(f"{api}/task/{task_id}", timeout=5,
                         headers={**bearer(), "If-None-Match": first.headers["ETag"]})

    assert first.status_code == 200 and first.headers["ETag"]
    assert "private" in first.headers["Cache-Control"]
    assert "max-age=3600" in first.headers["Cache-Control"]
    assert again.status_code == 304 and again.content == b""


def test_a_task_still_in_progress_is_not_cached(api, redis_client):
    registry = TaskRegistry.from_settings(redis_client, settings.load())
    task_id = store_task(registry).task_id

    response = requests.get(f"{api}/task/{task_id}", headers=bearer(OPERATOR_TOKEN), timeout=5)

    assert response.json()["status"] == "queued"
    assert "no-cache" in response.headers["Cache-Control"]
    assert "max-age" not in response.headers["Cache-Control"]
