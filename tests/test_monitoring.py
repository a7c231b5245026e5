"""GET /health and GET /metrics on a real Redis, with a real worker and gunicorn as needed."""
import math
import time

import pytest
import redis as redis_py
import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from conftest import (
    OPERATOR_TOKEN,
    APIServer,
    RedisServer,
    bearer,
    error_of,
    make_app,
    running_worker,
    submission,
    wait_until,
)
from tasks import keys
from tasks.metrics import BIN_GROWTH
from tasks.prometheus import wants_prometheus
from tasks.registry import TaskRegistry

OPERATOR = bearer(OPERATOR_TOKEN)


@pytest.fixture(scope="module")
def server(private_redis):
    return private_redis


@pytest.fixture
def store(private_store):
    return private_store


@pytest.fixture
def app(server, store):
    return make_app(server.url, RATE_LIMIT="off", HEALTH_MAX_QUEUE_WAIT_SECONDS=0.2)


@pytest.fixture
def api(app):
    return app.test_client()


def submit(api, **data) -> str:
    response = api.post("/task", json=submission(**data), headers=bearer())
    assert response.status_code == 202, response.get_json()
    return response.get_json()["task_id"]


def health(api):
    response = api.get("/health", headers=OPERATOR)
    return response.status_code, response.get_json()


def healthy(api):
    status, body = health(api)
    return (status, body) if body["status"] == "healthy" else None


def api_requests_counted(store) -> float:
    return sum(float(store.hget(key, "requests") or 0)
               for key in store.keys(keys.API_METRICS.replace("%d", "*")))


# --- /health ---

def test_health_measures_redis_workers_queues_and_results(api, server, store, tmp_path):
    with running_worker(server.url, tmp_path, "--concurrency", "1",
                        WORKER_HEARTBEAT_SECONDS=1):
        task_ids = [submit(api) for _ in range(3)]
        wait_until(lambda: all(store.hget(keys.task(t), "status") == "completed"
                               for t in task_ids), 30, message="the tasks to complete")
        wait_until(lambda: health(api)[1]["components"]["workers"]["online"] == 1, 10,
                   message="the worker's heartbeat")
        # Request metrics reach Redis within a second (buffered per process).
        wait_until(lambda: api_requests_counted(store) >= 3, 10, message="request metrics")
        # A PING slower than 100 ms on a busy test machine would read as degraded: retry.
        status, body = wait_until(lambda: healthy(api), 10, interval=0.5,
                                  message="a healthy answer")

    assert status == 200
    assert body["reasons"] == []
    redis_part = body["components"]["redis"]
    assert redis_part["status"] == "up" and redis_part["latency_ms"] > 0
    assert redis_part["latency"].endswith("ms")
    assert redis_part["persistence"] == {"aof": True, "rdb": False, "persisting": True}
    assert body["components"]["workers"]["total"] == 1
    tasks, results = body["components"]["queues"]["tasks"], body["components"]["queues"]["results"]
    assert tasks["length"] == 0 and tasks["processing"] == 0
    assert tasks["by_priority"] == {"high": 0, "normal": 0, "low": 0}
    assert results["length"] == 3 and results["window_seconds"] == 60
    assert results["processing_rate_per_second"] > 0
    assert results["processing_rate"].endswith("/sec")
    metrics = body["metrics"]
    assert metrics["cpu_usage"].endswith("%") and 0 <= metrics["cpu_percent"] <= 100
    assert 0 < metrics["memory_percent"] <= 100
    assert metrics["average_response_time_ms"] > 0
    assert metrics["average_response_time"].endswith("ms")


def test_health_is_degraded_with_no_worker_and_an_aging_backlog(api):
    submit(api, priority="high")
    submit(api, channel="email", priority="low")
    time.sleep(0.3)  # longer than HEALTH_MAX_QUEUE_WAIT_SECONDS

    status, body = health(api)

    assert status == 200 and body["status"] == "degraded"
    reasons = " | ".join(body["reasons"])
    assert "no worker is online" in reasons
    assert "tasks wait in chat and no online worker consumes it" in reasons
    assert "tasks wait in email" in reasons and "a task has waited" in reasons
    tasks = body["components"]["queues"]["tasks"]
    assert tasks["length"] == 2
    assert tasks["by_channel"] == {"chat": 1, "voice": 0, "email": 1}
    assert tasks["by_priority"] == {"high": 1, "normal": 0, "low": 1}
    assert tasks["oldest_wait_seconds"] >= 0.3


def test_health_is_degraded_when_redis_keeps_nothing_on_disk(api, store):
    store.config_set("appendonly", "no")
    try:
        status, body = health(api)
    finally:
        store.config_set("appendonly", "yes")

    assert status == 200 and body["status"] == "degraded"
    assert body["components"]["redis"]["persistence"]["persisting"] is False
    assert any("no copy on disk" in reason for reason in body["reasons"])


def test_health_answers_503_within_two_seconds_when_redis_is_down(tmp_path):
    own_redis = RedisServer(tmp_path / "redis").start()
    try:
        api_server = APIServer(own_redis.url, tmp_path / "api.log")
        try:
            up = requests.get(f"{api_server.url}/health", headers=OPERATOR, timeout=10)
            own_redis.stop()

            started = time.monotonic()
            down = requests.get(f"{api_server.url}/health", headers=OPERATOR, timeout=10)
            elapsed = time.monotonic() - started
        finally:
            api_server.stop()
    finally:
        own_redis.stop()

    assert up.status_code == 200
    assert down.status_code == 503 and elapsed < 2, elapsed
    body = down.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["redis"]["status"] == "down"
    assert body["reasons"] == ["Redis cannot be reached"]
    # The same shape as when all is well, so a monitor sees which part failed.
    assert body.keys() == up.json().keys()
    assert body["components"].keys() == up.json()["components"].keys()
    assert body["components"]["queues"]["tasks"].keys() == (
        up.json()["components"]["queues"]["tasks"].keys())


def test_health_needs_a_token(api):
    error_of(api.get("/health"), "UNAUTHORIZED")


# --- /metrics ---

def nearest_rank(values, fraction):
    """The value ``metrics.percentile`` estimates: the ceil(fraction * n)-th smallest."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


@pytest.fixture
def counted(server, request):
    """An app on a database of its own, and a client of that database."""
    # Other tests' apps flush their request counts for up to a second after they end, into
    # the database they were given.
    store = redis_py.Redis.from_url(server.database(request.param), decode_responses=True)
    store.flushdb()
    yield make_app(server.database(request.param), RATE_LIMIT="off"), store
    store.flushdb()


@pytest.mark.parametrize("counted", [1], indirect=True)
def test_response_time_percentiles_match_the_latencies_the_test_produced(counted):
    app, store = counted

    @app.get("/test/sleep/<int:ms>")
    def sleep_for(ms):
        time.sleep(ms / 1000)
        return {}

    api = app.test_client()
    sleeps = [2] * 30 + [40] * 8 + [150] * 2
    measured = []
    for ms in sleeps:
        started = time.perf_counter()
        assert api.get(f"/test/sleep/{ms}", headers=bearer()).status_code == 200
        measured.append((time.perf_counter() - started) * 1000)
    wait_until(lambda: api_requests_counted(store) == len(sleeps), 10,
               message="the requests to be flushed to Redis")

    answer = api.get("/metrics", headers=OPERATOR).get_json()

    # Each request took at least its sleep and at most what the test measured around it; a
    # percentile is read as the upper edge of its bin, at most BIN_GROWTH above the truth.
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        low, high = nearest_rank(sleeps, fraction), nearest_rank(measured, fraction)
        assert low <= answer["response_times"][name] <= high * BIN_GROWTH, (name, answer)
    assert sum(sleeps) / len(sleeps) <= answer["response_times"]["mean"] <= (
        sum(measured) / len(measured))
    assert answer["requests"] == len(sleeps)
    assert answer["throughput"]["requests_per_second"] > 0
    assert answer["window_seconds"] == 60
    assert answer["error_rates"]["total"] == 0


@pytest.mark.parametrize("counted", [2], indirect=True)
def test_error_rates_count_each_type_per_operation(counted):
    app, store = counted
    api = app.test_client()
    for _ in range(5):
        api.get("/workers")  # no token: auth
    for _ in range(3):
        api.post("/task", json={"type": "sentiment_analysis"}, headers=bearer())  # validation
    registry = TaskRegistry.from_settings(store, app.config)
    expired = [submit(api, timeout=5) for _ in range(2)]
    broken = submit(api)
    for task_id in expired:
        registry.fail(task_id, "TASK_EXPIRED", "not started in time")
    registry.fail(broken, "ANALYSIS_FAILED", "ValueError")
    requests_made = 5 + 3 + 3
    wait_until(lambda: api_requests_counted(store) == requests_made, 10,
               message="the requests to be flushed to Redis")

    answer = api.get("/metrics", headers=OPERATOR).get_json()

    operations = requests_made + 3  # requests answered plus tasks finished
    assert answer["error_counts"] == {"timeout": 2, "processing": 1, "validation": 3,
                                      "auth": 5, "rate_limit": 0}
    assert answer["error_rates"]["by_type"] == {
        "timeout": round(2 / operations, 5), "processing": round(1 / operations, 5),
        "validation": round(3 / operations, 5), "auth": round(5 / operations, 5),
        "rate_limit": 0.0}
    assert answer["error_rates"]["total"] == round(11 / operations, 5)
    assert answer["throughput"]["tasks_processed"] == 3


def test_prometheus_text_has_queue_depth_and_oldest_task_age(api):
    for _ in range(3):
        submit(api, priority="high")
    submitted_at = time.monotonic()
    for _ in range(2):
        submit(api, channel="email", priority="low")
    time.sleep(0.2)

    response = api.get("/metrics", headers={**OPERATOR, "Accept": "text/plain; version=0.0.4"})
    waited = time.monotonic() - submitted_at

    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    depth = {(s.labels["channel"], s.labels["priority"]): s.value
             for s in families["sp_queue_depth"].samples}
    assert depth[("chat", "high")] == 3 and depth[("email", "low")] == 2
    assert sum(depth.values()) == 5
    age = {s.labels["priority"]: s.value for s in families["sp_oldest_task_age_seconds"].samples}
    assert 0.2 <= age["high"] <= waited + 0.1
    assert 0.2 <= age["low"] <= age["high"]
    assert age["normal"] == 0
    queued = {s.labels["priority"]: s.value for s in families["sp_tasks_queued"].samples}
    assert queued == {"high": 3, "normal": 0, "low": 2}
    assert {s.labels["status"]: s.value for s in families["sp_workers"].samples} == {
        "active": 0, "idle": 0, "offline": 0}
    assert families["sp_api_requests_per_second"].samples[0].value >= 0


def test_prometheus_counts_completed_tasks_by_channel_and_sentiment(app, api, store):
    registry = TaskRegistry.from_settings(store, app.config)
    labels = ["mixed", "unknown", "unknown", "positive"]
    task_ids = [submit(api, channel="email") for _ in labels]
    registry.claim(task_ids, "worker-test")
    registry.complete({task_id: {"sentiment": label, "processing_time_ms": 1.0}
                       for task_id, label in zip(task_ids, labels, strict=True)})

    response = api.get("/metrics", headers={**OPERATOR, "Accept": "text/plain; version=0.0.4"})

    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    counts = {(s.labels["channel"], s.labels["sentiment"]): s.value
              for s in families["sp_tasks_completed_by_sentiment"].samples}
    assert counts[("email", "unknown")] == 2
    assert counts[("email", "mixed")] == counts[("email", "positive")] == 1
    assert counts[("chat", "mixed")] == counts[("email", "negative")] == 0
    assert len(counts) == 3 * 5  # every channel and label, zeros included


def test_a_prometheus_scraper_gets_openmetrics(api):
    submit(api)
    scraper = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

    response = api.get("/metrics", headers={**OPERATOR, "Accept": scraper})

    assert response.content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in openmetrics_families(response.get_data(as_text=True))}
    assert families["sp_tasks_queued"].type == "gauge"
    assert {s.labels["priority"]: s.value for s in families["sp_tasks_queued"].samples}[
        "normal"] == 1


def test_a_browser_or_curl_gets_json(api):
    for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8", None):
        headers = dict(OPERATOR, **({"Accept": accept} if accept else {}))
        response = api.get("/metrics", headers=headers)
        assert response.mimetype == "application/json"
        assert set(response.get_json()) >= {"response_times", "throughput", "error_rates"}


@pytest.mark.parametrize("window", ["5", "abc", "7201", "-10", "²", "٣٠"])
def test_a_bad_window_is_invalid_input(api, window):
    response = api.get(f"/metrics?window={window}", headers=OPERATOR)

    assert "window" in error_of(response, "INVALID_INPUT")["details"]


@pytest.mark.parametrize("accept, prometheus", [
    (None, False), ("*/*", False), ("application/json", False),
    ("text/plain; version=0.0.4", True), ("text/plain", True),
    ("application/openmetrics-text; version=1.0.0", True),
    ("application/json, text/plain;q=0.5", False),
    ("text/plain;q=0.9, application/json;q=0.5", True),
])
def test_content_negotiation_between_json_and_prometheus(accept, prometheus):
    assert wants_prometheus(accept) is prometheus
