"""Pausing a channel or a priority: its tasks are accepted and wait; workers serve the rest."""
import json
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
from tasks import keys, messages
from tasks.celery_app import celery_app
from tasks.messages import analyse_message
from tasks.queues import queue_for
from tasks.sentiment import park
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


# Pausing a priority: its Celery messages are set aside in parked lists no worker reads.

def registry_of(api):
    return api.application.extensions["registry"]


def submit_priority(api, priority, channel="email"):
    answer = api.post("/task", json=submission(channel=channel, priority=priority),
                      headers=bearer())
    assert answer.status_code == 202
    return answer.get_json()["task_id"]


def test_a_paused_priority_waits_and_resumes_oldest_first(api, private_redis, private_store,
                                                         tmp_path):
    early = [submit_priority(api, "low") for _ in range(2)]  # already in the queue
    paused = api.post("/priorities/low/pause", headers=bearer(OPERATOR_TOKEN)).get_json()
    assert paused == {"priority": "low", "status": "paused", "messages_set_aside": 2}
    late = [submit_priority(api, "low", channel) for channel in ("email", "chat")]
    assert private_store.llen(keys.parked("email", "low")) == 3
    assert private_store.llen(list_key("email", "low")) == 0

    with running_worker(private_redis.url, tmp_path, "--concurrency", "1"):
        high = submit_priority(api, "high")
        wait_until(lambda: status(api, high) == "completed", 30, message="the high task")
        time.sleep(1)

        assert [status(api, t) for t in early + late] == ["queued"] * 4
        answer = api.get("/channels", headers=bearer()).get_json()
        assert answer["priorities"] == {"high": "active", "normal": "active", "low": "paused"}

        resumed = api.post("/priorities/low/resume", headers=bearer(OPERATOR_TOKEN))
        assert resumed.get_json() == {"priority": "low", "status": "resumed",
                                      "messages_returned": 4}
        wait_until(lambda: all(status(api, t) == "completed" for t in early + late), 30,
                   message="the low tasks")

    started = [float(private_store.hget(keys.task(t), "started_at")) for t in early + late[:1]]
    assert started == sorted(started)  # the email queue served its low tasks oldest first
    assert not private_store.exists(keys.parked("email", "low"), keys.parked("chat", "low"))


def test_a_message_taken_just_before_the_pause_is_parked_again(api, private_store):
    registry = registry_of(api)
    task_id = submit_priority(api, "low")
    private_store.rpop(list_key("email", "low"))  # a worker took the message, then the pause
    registry.pause_priority("low")

    [claim] = registry.claim([task_id], "worker-x")
    assert claim.outcome == "paused"
    park(registry, celery_app, [task_id])

    assert private_store.hget(keys.task(task_id), "status") == "queued"
    assert private_store.llen(keys.parked("email", "low")) == 1
    assert registry.resume_priority("low") == 1
    [message] = private_store.lrange(list_key("email", "low"), 0, -1)
    assert json.loads(message)["headers"]["id"] == task_id


def test_the_requeue_sweep_leaves_parked_tasks_alone(api, private_store):
    registry = registry_of(api)
    task_id = submit_priority(api, "low")
    registry.pause_priority("low")
    future = time.time() + 3600

    candidates = registry.stale_candidates(future, 10)
    assert task_id in candidates
    message = analyse_message(celery_app, [task_id], "email", "low")
    assert registry.requeue(future, {task_id: message}) == []
    assert private_store.llen(keys.parked("email", "low")) == 1


def test_pausing_a_priority_needs_an_operator_token_and_a_known_priority(api):
    error_of(api.post("/priorities/low/pause", headers=bearer()), "FORBIDDEN")
    error = error_of(api.post("/priorities/urgent/pause", headers=bearer(OPERATOR_TOKEN)),
                     "PRIORITY_NOT_FOUND")
    assert error["details"]["priorities"] == ["high", "normal", "low"]


def list_key(channel, priority):
    return messages.list_key(queue_for(channel), priority)
