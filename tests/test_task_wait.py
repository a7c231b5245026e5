"""``GET /task/{id}?wait=``, a long poll, end to end: gunicorn, Redis, a worker started late."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests

from conftest import (
    CHANNEL_TOKEN,
    APIServer,
    bearer,
    error_of,
    make_app,
    running_worker,
    submission,
)
from sentiment_client import Client, WaitTimeout

PROMPT_SECONDS = 5  # "at once", against waits of 30 s


@pytest.fixture(scope="module")
def api(private_redis, tmp_path_factory):
    """The API alone: no worker runs what it accepts until a test starts one."""
    server = APIServer(private_redis.url, tmp_path_factory.mktemp("wait") / "gunicorn.log")
    yield server
    server.stop()


def submit(api: APIServer) -> str:
    answer = requests.post(f"{api.url}/task", json=submission(), headers=bearer(), timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()["task_id"]


def read(api: APIServer, task_id: str, **params) -> requests.Response:
    return requests.get(f"{api.url}/task/{task_id}", params=params, headers=bearer(),
                        timeout=60)


def test_a_wait_answers_as_soon_as_the_task_completes(api, private_redis, tmp_path):
    task_id = submit(api)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(read, api, task_id, wait=30)
        time.sleep(1)
        assert not waiting.done()  # no worker yet: the task is still queued
        with running_worker(private_redis.url, tmp_path):
            answer = waiting.result(timeout=60)
            answered = time.time()
    assert answer.status_code == 200, answer.text
    task = answer.json()
    assert task["status"] == "completed"
    assert task["result"]["sentiment"] == "positive"
    finished = datetime.fromisoformat(task["finished_at"].replace("Z", "+00:00")).timestamp()
    assert answered - finished < PROMPT_SECONDS  # woken by the completion, not the timeout

    started = time.monotonic()
    assert read(api, task_id, wait=30).json() == task  # finished: no wait at all
    assert time.monotonic() - started < PROMPT_SECONDS


def test_a_wait_that_runs_out_answers_the_task_as_it_is(api):
    task_id = submit(api)
    started = time.monotonic()
    answer = read(api, task_id, wait=0.5)
    assert time.monotonic() - started >= 0.5
    assert answer.status_code == 200
    assert answer.json()["status"] == "queued"


def test_cancelling_a_task_ends_its_wait(api):
    task_id = submit(api)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(read, api, task_id, wait=30)
        time.sleep(0.5)
        assert not waiting.done()
        cancelled = requests.delete(f"{api.url}/task/{task_id}", headers=bearer(), timeout=10)
        assert cancelled.status_code == 200, cancelled.text
        assert waiting.result(timeout=PROMPT_SECONDS).json()["status"] == "cancelled"


def test_a_stopping_server_answers_its_waits_at_once(private_redis, tmp_path):
    server = APIServer(private_redis.url, tmp_path / "gunicorn.log")
    task_id = submit(server)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(read, server, task_id, wait=30)
        time.sleep(0.5)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        answer = waiting.result(timeout=PROMPT_SECONDS)
        stopping.join()
    assert answer.status_code == 200
    assert answer.json()["status"] == "queued"


def test_a_wait_is_a_number_of_seconds_up_to_30(private_redis):
    client = make_app(private_redis.url).test_client()
    task_id = client.post("/task", json=submission(), headers=bearer()).get_json()["task_id"]
    for wait in ("soon", "-1", "30.5", "nan", ""):
        error = error_of(client.get(f"/task/{task_id}?wait={wait}", headers=bearer()),
                         "INVALID_INPUT")
        assert set(error["details"]) == {"wait"}, wait
    # Other query parameters (a cache-buster) are ignored, as before.
    assert client.get(f"/task/{task_id}?_=1", headers=bearer()).status_code == 200
    # A task that does not exist, or is another token's, is not waited for.
    error_of(client.get("/task/task_missing?wait=30", headers=bearer()), "TASK_NOT_FOUND")


def test_the_client_s_polls_are_long_polls(api):
    task_id = submit(api)  # no worker: it stays queued
    reads = []
    with Client(api.url, CHANNEL_TOKEN, request_timeout=4) as client:
        client.session.hooks["response"].append(
            lambda response, *args, **kwargs: reads.append(response.request.url))
        with pytest.raises(WaitTimeout):
            client.wait([task_id], timeout=3, via="poll")
    # Two or three reads of up to 2 s each; polls 0.2 s apart, growing, would be six.
    assert 1 <= len(reads) <= 3, reads
    assert all("wait=" in url for url in reads)
