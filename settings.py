"""Every setting of the platform: one environment variable each, with its default and meaning.

The API, the workers, Flower's launcher and the README's configuration table all read this
list, so a setting is added in exactly one place. ``tests/test_readme.py`` fails when the
README table and this list disagree.
"""
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _log_format(value: str) -> str:
    value = value.strip().lower()
    if value not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    doc: str


SETTINGS = (
    Setting("REDIS_URL", "redis://127.0.0.1:6379/0", str,
            "Redis used as broker, task registry, metrics and event stream. Unset under "
            "`make run`: an embedded Redis is started on `EMBEDDED_REDIS_PORT`."),
    Setting("API_TOKENS", "", _csv,
            "Channel bearer tokens, comma-separated; each entry a token or `sha256:<hex digest>`."),
    Setting("OPERATOR_TOKENS", "", _csv,
            "Operator bearer tokens (may also manage the platform); same format as `API_TOKENS`."),
    Setting("PORT", "8000", int, "Port of the HTTP API (gunicorn)."),
    Setting("FLOWER_PORT", "5555", int, "Port of Flower."),
    Setting("FLOWER_BASIC_AUTH", "", str,
            "Flower's `user:password`; `make run` generates one when unset."),
    Setting("WEB_CONCURRENCY", "1", int,
            "gunicorn worker processes. One runs Python on one core at a time (the GIL): add "
            "one per core the host can spare beyond its workers and Redis. With two or more, "
            "the host keeps answering while gunicorn replaces a process that died."),
    Setting("WEB_CONNECTIONS", "1000", int,
            "Simultaneous client connections per gunicorn process (gevent worker), "
            "WebSockets included."),
    Setting("WORKER_CONCURRENCY", "2", int,
            "Pool processes of the Celery worker `make run` starts."),
    Setting("WORKER_NICENESS", "19", int,
            "Niceness a worker that takes `normal` or `low` messages sets itself at start, so "
            "the API, Redis and the urgent lane on its host get a core first; `0` keeps the "
            "one it was started with."),
    Setting("RATE_LIMIT", "6000/minute", str,
            "Per-token request limit in flask-limiter syntax; `off` disables it."),
    Setting("AUTH_FAILURE_LIMIT", "30/minute", str,
            "Wrong tokens one client address may present per window (same syntax) before "
            "its requests with a token get `429` until the window ends; `off` disables it."),
    Setting("WEBHOOK_ALLOW_PRIVATE", "0", _bool,
            "`1` allows webhook and callback URLs that resolve to loopback, link-local, "
            "private, multicast, reserved or unspecified addresses (refused otherwise)."),
    Setting("WEBHOOK_TIMEOUT_SECONDS", "5", float,
            "Connect and read timeout of one webhook delivery attempt."),
    Setting("WEBHOOK_MAX_ATTEMPTS", "8", int,
            "Attempts of one webhook delivery before it is logged `failed`."),
    Setting("WEBHOOK_BACKOFF_SECONDS", "2", float,
            "Delay before a delivery's second attempt; it doubles per attempt (with jitter, "
            "at most 10 minutes)."),
    Setting("WEBHOOK_CONCURRENCY", "16", int,
            "Threads of the webhook worker `make run` starts: deliveries in flight at once."),
    Setting("WEBHOOK_MAX_IN_FLIGHT_PER_HOST", "4", int,
            "Delivery attempts to one host at once, across webhook workers; more wait. Keep "
            "it below `WEBHOOK_CONCURRENCY`, so a host that hangs cannot hold every thread."),
    Setting("WEBHOOK_OUTBOX_MAXLEN", "100000", int,
            "Approximate number of undelivered webhook events the outbox stream keeps."),
    Setting("SECRET_KEY", "", str,
            "Secret every API process shares to sign the dashboard's session cookies and CSRF "
            "tokens; unset, browser login is off. `make run` generates one when unset."),
    Setting("SESSION_COOKIE_SECURE", "0", _bool,
            "`1` marks the dashboard's session cookie `Secure` (sent over HTTPS only): set it "
            "when the API is served over TLS."),
    Setting("SESSION_LIFETIME_SECONDS", "28800", int,
            "How long a dashboard login lasts (8 hours); logging out ends it sooner."),
    Setting("FLOWER_URL", "", str,
            "Flower's address for the dashboard's link; unset, the API's host name on "
            "`FLOWER_PORT` over plain HTTP."),
    Setting("TRUSTED_PROXY_COUNT", "0", int,
            "Reverse proxies in front of the API whose `X-Forwarded-For/-Proto/-Host/-Port` "
            "are trusted; `0` ignores those headers."),
    Setting("TASK_TTL_SECONDS", "604800", int,
            "How long a task (text, state, result) is kept after its last change: 7 days."),
    Setting("MAX_ATTEMPTS", "3", int,
            "Deliveries of a task whose worker died mid-task before it fails `TOO_MANY_ATTEMPTS`."),
    Setting("QUEUE_CAPACITY", "100000", int,
            "Tasks that may wait at once; beyond it `POST /task` answers 503 `QUEUE_FULL`. "
            "`0` means no limit."),
    Setting("IDEMPOTENCY_TTL_SECONDS", "86400", int,
            "How long an `Idempotency-Key` keeps returning the task it first created."),
    Setting("TASK_SOFT_TIME_LIMIT_SECONDS", "15", int,
            "Analysis time after which a task fails `TASK_TIMEOUT` (the worker stays healthy)."),
    Setting("TASK_TIME_LIMIT_SECONDS", "20", int,
            "Hard limit: the pool process running a task this long is killed and replaced."),
    Setting("REQUEUE_AFTER_SECONDS", "30", int,
            "A task still processing this long after it started is put back in its queue "
            "(its worker died or lost Redis); must exceed `TASK_TIME_LIMIT_SECONDS`."),
    Setting("WORKER_TASK_EVENTS", "0", _bool,
            "`1` makes workers send Celery task events, for Flower's Tasks page; they cost "
            "about 40% of a worker's time per message. Workers and queues show in Flower "
            "either way."),
    Setting("WORKER_MAX_TASKS_PER_CHILD", "10000", int,
            "Messages a pool process handles before it is replaced (bounds leaked memory)."),
    Setting("GROUP_COMMIT_WINDOW_MS", "0", float,
            "How long an API process waits for more concurrent `POST /task` submissions "
            "before storing them as one Celery message; `0` groups what arrives while the "
            "previous group is being stored. A group of 64 goes at once."),
    Setting("MAX_TEXT_CHARS", "20000", int, "Longest accepted message text, in characters."),
    Setting("MAX_CONTENT_LENGTH", "1048576", int,
            "Largest accepted request body in bytes; larger bodies get 413."),
    Setting("MAX_BATCH_SIZE", "1000", int, "Most messages one `POST /tasks` may carry."),
    Setting("MAX_BATCH_CONTENT_LENGTH", "16777216", int,
            "Largest `POST /tasks` body in bytes (16 MiB); larger bodies get 413."),
    Setting("MAX_TASK_TIMEOUT_SECONDS", "86400", int,
            "Largest `data.timeout` a submission may ask for."),
    Setting("ESTIMATE_WINDOW_SECONDS", "60", int,
            "Window of recent completions whose rate gives `estimated_process_time`."),
    Setting("TASK_SEARCH_SCAN_LIMIT", "2000", int,
            "Most task ids one `GET /tasks` request reads while filtering; past it the page "
            "ends early with a `next_cursor` to continue from."),
    Setting("EVENT_STREAM_MAXLEN", "100000", int,
            "Approximate number of task events kept in the Redis event stream."),
    Setting("EMBEDDED_REDIS_PORT", "6379", int,
            "Port of the embedded Redis `make run` starts when `REDIS_URL` is unset."),
    Setting("DATA_DIR", "var", str,
            "Where `make run` keeps the embedded Redis's AOF, generated secrets and logs."),
    Setting("LOG_LEVEL", "INFO", str, "Log level of the API, workers and Flower."),
    Setting("LOG_FORMAT", "json", _log_format,
            "`json`: one JSON object per line (timestamp, level, logger, message, request_id, "
            "task_id); `text`: plain lines for people at a terminal. API, workers and agent."),
    Setting("WORKER_HEARTBEAT_SECONDS", "2", float,
            "Seconds between a worker's heartbeats; it is `offline` after 3 missed beats."),
    Setting("WORKER_FORGET_SECONDS", "900", int,
            "How long `GET /workers` lists an offline worker before dropping it."),
    Setting("WORKER_START_TIMEOUT_SECONDS", "20", float,
            "How long `POST`/`DELETE /workers` wait for the worker to start or stop."),
    Setting("METRICS_WINDOW_SECONDS", "60", int,
            "Default window of `/metrics`, `/health` rates and `/channels` figures."),
    Setting("HEALTH_MAX_QUEUE_WAIT_SECONDS", "60", float,
            "`/health` is `degraded` when a queued task has waited longer than this."),
    Setting("WS_MAX_CONNECTIONS", "100", int,
            "WebSocket connections one API process holds, below its `WEB_CONNECTIONS`."),
    Setting("ESCALATION_NEGATIVE_THRESHOLD", "-0.6", float,
            "A compound score at or below this is strongly negative: it escalates on the "
            "priorities of `ESCALATION_PRIORITIES` and the channels of `ESCALATION_CHANNELS`."),
    Setting("ESCALATION_PRIORITIES", "high", _csv,
            "Priorities on which a strongly negative message escalates, comma-separated; "
            "empty for none."),
    Setting("ESCALATION_CHANNELS", "voice", _csv,
            "Channels on which a strongly negative message escalates whatever its priority, "
            "comma-separated; empty for none."),
    Setting("ESCALATION_WORSENING_MESSAGES", "3", int,
            "A customer whose last this many messages (within "
            "`ESCALATION_WORSENING_WINDOW_SECONDS`) each scored lower than the one before "
            "escalates; `0` turns the rule off."),
    Setting("ESCALATION_WORSENING_MAX_COMPOUND", "-0.05", float,
            "The worsening rule fires only when the newest message's compound is at most "
            "this (by default: negative)."),
    Setting("ESCALATION_WORSENING_WINDOW_SECONDS", "86400", int,
            "How recent the messages the worsening rule compares must be."),
    Setting("CUSTOMER_HISTORY_SIZE", "50", int,
            "Recent messages kept per customer for `GET /customers/{id}/sentiment` and the "
            "worsening rule; `0` keeps none (and turns the rule off)."),
    Setting("CUSTOMER_HISTORY_TTL_SECONDS", "2592000", int,
            "A customer's history expires this long after their last completed message "
            "(30 days)."),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def load(environ: "os._Environ[str] | dict[str, str] | None" = None) -> dict[str, Any]:
    """Every setting parsed from the environment, keyed by its variable name."""
    environ = os.environ if environ is None else environ
    return {s.name: s.parse(environ.get(s.name, s.default)) for s in SETTINGS}


def get(name: str, environ: "dict[str, str] | None" = None) -> Any:
    """One setting, parsed from the environment."""
    setting = BY_NAME[name]
    environ = os.environ if environ is None else environ
    return setting.parse(environ.get(name, setting.default))
