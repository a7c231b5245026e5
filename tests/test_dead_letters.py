"""The dead-letter list: operators list failed tasks and send them back, one or by filter."""
import pytest

from conftest import OPERATOR_TOKEN, bearer, error_of, store_task, wait_until


@pytest.fixture
def registry(app):
    return app.extensions["registry"]


def failed_task(client, registry, code="ANALYSIS_FAILED", channel="chat") -> str:
    """A task that failed; its first message went nowhere, so no worker races the test."""
    task_id = store_task(registry, channel=channel).task_id
    registry.claim([task_id], "test-worker")
    registry.fail(task_id, code, "for the test")
    return task_id


def operator(client, method, path, **kwargs):
    return client.open(path, method=method, headers=bearer(OPERATOR_TOKEN), **kwargs)


def test_failed_tasks_are_listed_newest_first_with_their_error(client, registry):
    first, second = failed_task(client, registry), failed_task(client, registry, "TASK_EXPIRED")

    answer = operator(client, "GET", "/tasks/failed").get_json()

    assert [t["task_id"] for t in answer["tasks"]] == [second, first]
    assert answer["tasks"][0]["error"] == {"code": "TASK_EXPIRED", "message": "for the test"}
    assert answer["next"] is None


def test_the_list_filters_and_pages(client, registry):
    chats = [failed_task(client, registry) for _ in range(3)]
    failed_task(client, registry, channel="email")

    page = operator(client, "GET", "/tasks/failed?channel=chat&limit=2").get_json()
    rest = operator(client, "GET",
                    f"/tasks/failed?channel=chat&limit=2&before={page['next']}").get_json()

    assert [t["task_id"] for t in page["tasks"] + rest["tasks"]] == chats[::-1]
    assert rest["next"] is None
    by_code = operator(client, "GET", "/tasks/failed?error_code=TASK_EXPIRED").get_json()
    assert by_code["tasks"] == []


def test_a_retried_task_completes(client, registry, worker):
    task_id = failed_task(client, registry)

    response = operator(client, "POST", f"/task/{task_id}/retry")

    assert response.status_code == 202
    done = wait_until(lambda: _finished(client, task_id), 30, message="retried task")
    assert done["status"] == "completed"
    assert (done["attempts"], done["retries"]) == (1, 1)
    assert operator(client, "GET", "/tasks/failed").get_json()["tasks"] == []


def _finished(client, task_id):
    task = client.get(f"/task/{task_id}", headers=bearer(OPERATOR_TOKEN)).get_json()
    return task if task["status"] in ("completed", "failed") else None


def test_retry_by_filter_sends_back_only_the_matching(client, registry, worker):
    expired = [failed_task(client, registry, "TASK_EXPIRED") for _ in range(2)]
    other = failed_task(client, registry)

    answer = operator(client, "POST", "/tasks/failed/retry?error_code=TASK_EXPIRED")

    assert answer.status_code == 202
    assert sorted(answer.get_json()["task_ids"]) == sorted(expired)
    remaining = operator(client, "GET", "/tasks/failed").get_json()["tasks"]
    assert [t["task_id"] for t in remaining] == [other]


def test_only_a_failed_task_can_be_retried(client, registry):
    task_id = store_task(registry).task_id  # its message goes nowhere: it stays queued

    error = error_of(operator(client, "POST", f"/task/{task_id}/retry"), "TASK_NOT_RETRYABLE")
    assert error["details"]["status"] == "queued"


@pytest.mark.parametrize("method, path", [("GET", "/tasks/failed"),
                                          ("POST", "/tasks/failed/retry"),
                                          ("POST", "/task/task_x/retry")])
def test_dead_letter_routes_need_an_operator_token(client, method, path):
    error_of(client.open(path, method=method, headers=bearer()), "FORBIDDEN")


def test_a_bad_filter_is_invalid_input(client):
    error = error_of(operator(client, "GET", "/tasks/failed?limit=0&channel=fax"),
                     "INVALID_INPUT")
    assert set(error["details"]) == {"limit", "channel"}
