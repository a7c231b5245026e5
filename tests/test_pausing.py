"""Pausing a channel: its tasks are accepted and wait; workers serve the other channels."""
import time

import pytest

from conftest import (
    OPERATOR_TOKEN,
    bearer,
    error_of,
    make_app,
    running_worker,
    submission,
    wait_until,
)
from workers.pausing import FOLLOW_SECONDS


@pytest.fixture
def api(private_redis, private_store):
    return make_app(private_redis.url, RATE_LIMIT="off").test_client()


def status(api, task_id):
    return api.get(f"/task/{task_id}", headers=bearer()).get_json()["status"]


def submit(api, channel):
    answer = api.post("/task", json=submission(channel=channel), headers=bearer())
    assert answer.status_code == 202
    return answer.get_json()["task_id"]


def test_a_paused_channel_waits_until_resumed(api, private_redis, tmp_path):
    paused = api.post("/channels/email/pause", headers=bearer(OPERATOR_TOKEN))
    assert paused.get_json() == {"channel": "email", "status": "paused"}

    with running_worker(private_redis.url, tmp_path):
        email, chat = submit(api, "email"), submit(api, "chat")
        wait_until(lambda: status(api, chat) == "completed", 30, message="the chat task")
        channels = api.get("/channels", headers=bearer()).get_json()["channels"]

        assert status(api, email) == "queued"  # accepted, not served
        assert channels["email"]["status"] == "paused"
        assert channels["email"]["queued"] == 1

        api.post("/channels/email/resume", headers=bearer(OPERATOR_TOKEN))
        wait_until(lambda: status(api, email) == "completed", 30, message="the email task")


def test_pausing_needs_an_operator_token_and_a_known_channel(api):
    error_of(api.post("/channels/email/pause", headers=bearer()), "FORBIDDEN")
    error = error_of(api.post("/channels/fax/pause", headers=bearer(OPERATOR_TOKEN)),
                     "CHANNEL_NOT_FOUND")
    assert error["details"]["channels"] == ["chat", "voice", "email"]


def test_a_running_worker_follows_a_pause(api, private_redis, tmp_path):
    with running_worker(private_redis.url, tmp_path):
        api.post("/channels/voice/pause", headers=bearer(OPERATOR_TOKEN))
        time.sleep(2 * FOLLOW_SECONDS + 0.5)  # the worker's next look at the paused set
        voice, chat = submit(api, "voice"), submit(api, "chat")
        wait_until(lambda: status(api, chat) == "completed", 30, message="the chat task")
        time.sleep(FOLLOW_SECONDS)

        assert status(api, voice) == "queued"
        api.post("/channels/voice/resume", headers=bearer(OPERATOR_TOKEN))
        wait_until(lambda: status(api, voice) == "completed", 30, message="the voice task")


def test_a_paused_channel_with_waiting_tasks_is_not_a_channel_without_worker(api,
                                                                           private_redis,
                                                                           tmp_path):
    api.post("/channels/email/pause", headers=bearer(OPERATOR_TOKEN))
    with running_worker(private_redis.url, tmp_path):
        submit(api, "email")
        time.sleep(2 * FOLLOW_SECONDS)

        health = api.get("/health", headers=bearer()).get_json()

    assert health["status"] == "healthy", health.get("reasons")
