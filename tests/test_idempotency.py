"""``Idempotency-Key``: a client that retries a submission gets the first task back."""
import pytest

from conftest import OTHER_CHANNEL_TOKEN, bearer, error_of, submission


def post(client, key, token=None, text="Great service!"):
    headers = {**bearer(*([token] if token else [])), "Idempotency-Key": key}
    return client.post("/task", json=submission(text), headers=headers)


def test_a_retried_submission_returns_the_first_task(client):
    first = post(client, "order-17-attempt")
    again = post(client, "order-17-attempt")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["task_id"] == first.json["task_id"]
    assert again.headers["Location"] == first.headers["Location"]


def test_another_key_or_another_token_makes_a_new_task(client):
    first = post(client, "key-a").json["task_id"]

    assert post(client, "key-b").json["task_id"] != first
    assert post(client, "key-a", token=OTHER_CHANNEL_TOKEN).json["task_id"] != first


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_invalid_input(client, key):
    error = error_of(post(client, key), "INVALID_INPUT")
    assert "Idempotency-Key" in error["details"]
