"""GET /channels with a real Redis and a real worker that serves only some channels."""
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
from tasks import keys
from tasks.metrics import BIN_GROWTH


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


@pytest.fixture
def store(private_store):
    return private_store


@pytest.fixture
def api(server, store):
    return make_app(server.url, RATE_LIMIT="off").test_client()


def submit(api, **data) -> str:
    response = api.post("/task", json=submission(**data), headers=bearer())
    assert response.status_code == 202
    return response.get_json()["task_id"]


def channels(api) -> dict:
    response = api.get("/channels", headers=bearer(OPERATOR_TOKEN))
    assert response.status_code == 200
    return response.get_json()["channels"]


def test_channels_show_load_response_time_and_sentiment(api, server, store, tmp_path):
    chat = [submit(api, text="Great, thank you so much!") for _ in range(4)]
    chat.append(submit(api, text="This is terrible and I am angry."))
    chat.append(submit(api, text="Great food! Terrible service."))  # mixed
    chat.append(submit(api, text="Das ist ein sehr schlechter Service"))  # unknown: German
    email = [submit(api, channel="email") for _ in range(2)]
    assert channels(api)["chat"]["current_load"] == 7
    assert channels(api)["chat"]["status"] == "degraded"  # waiting, nobody consumes chat

    with running_worker(server.url, tmp_path, "--concurrency", "1", "--queues", "chat,voice",
                        WORKER_HEARTBEAT_SECONDS=1):
        wait_until(lambda: all(store.hget(keys.task(t), "status") == "completed"
                               for t in chat), 30, message="the chat tasks to complete")
        answer = channels(api)

    chat_now, email_now, voice_now = answer["chat"], answer["email"], answer["voice"]
    assert chat_now["status"] == "active"
    assert chat_now["current_load"] == 0 and chat_now["completed"] == 7
    assert chat_now["sentiment"] == {"positive": 4, "neutral": 0, "negative": 1, "mixed": 1,
                                     "unknown": 1}
    assert chat_now["workers"] == 1
    # The end-to-end time the registry recorded for each task, accepted to finished.
    latencies = [(float(store.hget(keys.task(t), "finished_at"))
                  - float(store.hget(keys.task(t), "created_at"))) * 1000 for t in chat]
    assert chat_now["response_time_ms"] == pytest.approx(sum(latencies) / 7, abs=0.01)
    assert chat_now["response_time"].endswith("s")
    assert max(latencies) <= chat_now["response_time_p95_ms"] <= max(latencies) * BIN_GROWTH
    # Email waits and no online worker consumes it.
    assert email_now["status"] == "degraded"
    assert email_now["current_load"] == email_now["queued"] == len(email)
    assert email_now["workers"] == 0 and email_now["response_time"] is None
    assert voice_now["status"] == "idle" and voice_now["current_load"] == 0
    assert voice_now["workers"] == 1


def test_idle_channels_with_nothing_measured(api):
    for channel in channels(api).values():
        assert channel["status"] == "idle"
        assert channel["current_load"] == 0
        assert channel["response_time"] is None and channel["response_time_ms"] is None
        assert channel["sentiment"] == {"positive": 0, "neutral": 0, "negative": 0, "mixed": 0,
                                        "unknown": 0}


def test_channels_need_a_token(api):
    error_of(api.get("/channels"), "UNAUTHORIZED")


def test_a_batch_counts_as_its_tasks_not_its_one_message(api, store):
    batch = {"tasks": [submission(channel="email", priority="low") for _ in range(100)]}
    assert api.post("/tasks", json=batch, headers=bearer()).status_code == 202

    channels = api.get("/channels", headers=bearer()).get_json()["channels"]
    health = api.get("/health", headers=bearer()).get_json()["components"]["queues"]["tasks"]

    assert (channels["email"]["queued"], channels["email"]["current_load"]) == (100, 100)
    assert health["length"] == 100 and health["by_channel"]["email"] == 100
    assert health["by_priority"]["low"] == 100
