"""Rate limiting per token, counted in Redis so every process and host shares it."""
import pytest

from conftest import CHANNEL_TOKEN, OTHER_CHANNEL_TOKEN, bearer, error_of, make_app, submission


@pytest.fixture
def limited(redis_server, redis_client):
    return make_app(redis_server.url, RATE_LIMIT="3/minute").test_client()


def test_every_response_carries_the_rate_limit_headers(limited):
    response = limited.get("/task/task_unknown", headers=bearer())

    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_only_a_refusal_asks_the_client_to_wait(limited):
    accepted = limited.post("/task", json=submission(), headers=bearer())

    assert accepted.status_code == 202 and "Retry-After" not in accepted.headers
    assert accepted.headers["X-RateLimit-Remaining"] == "2"


def test_over_the_limit_is_429_in_the_envelope_with_retry_after(limited):
    for _ in range(3):
        assert limited.post("/task", json=submission(), headers=bearer()).status_code == 202

    response = limited.post("/task", json=submission(), headers=bearer())

    error_of(response, "RATE_LIMITED")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_the_limit_is_per_token_and_shared_by_every_app_instance(redis_server, limited):
    other_process = make_app(redis_server.url, RATE_LIMIT="3/minute").test_client()
    for _ in range(3):
        limited.get("/task/task_x", headers=bearer(CHANNEL_TOKEN))

    assert other_process.get("/task/task_x", headers=bearer(CHANNEL_TOKEN)).status_code == 429
    assert other_process.get("/task/task_x",
                             headers=bearer(OTHER_CHANNEL_TOKEN)).status_code == 404


def test_liveness_is_never_limited(limited):
    statuses = {limited.get("/health/live").status_code for _ in range(5)}
    assert statuses == {200}


def test_off_disables_the_limit(redis_server, redis_client):
    client = make_app(redis_server.url, RATE_LIMIT="off").test_client()
    statuses = {client.get("/task/task_x", headers=bearer()).status_code for _ in range(5)}

    assert statuses == {404}
    assert "X-RateLimit-Limit" not in client.get("/task/task_x", headers=bearer()).headers
