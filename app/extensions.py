"""Per-app shared objects: the Redis client, the task registry, the Celery app."""
from flask import Flask, current_app

from tasks.celery_app import make_celery
from tasks.connections import connect
from tasks.group_commit import GroupCommit
from tasks.registry import TaskRegistry
from tasks.submission import store
from tasks.task_waits import TaskWaits
from tasks.webhooks.store import WebhookStore


def init_app(app: Flask) -> None:
    """Create the Redis client and registry once per process, from the app's config."""
    client = connect(app.config["REDIS_URL"])
    app.extensions["redis"] = client
    app.extensions["registry"] = TaskRegistry.from_settings(client, app.config)
    app.extensions["webhook_store"] = WebhookStore(client, app.config["TASK_TTL_SECONDS"])
    app.extensions["task_waits"] = TaskWaits(client)
    # Its own Celery app, so the broker is the one this Flask app was configured with.
    app.extensions["celery"] = make_celery(app.config["REDIS_URL"])
    registry_, celery_ = app.extensions["registry"], app.extensions["celery"]
    capacity = app.config["QUEUE_CAPACITY"]
    app.extensions["group_commit"] = GroupCommit(
        lambda tasks: store(registry_, celery_, tasks, capacity),
        window=app.config["GROUP_COMMIT_WINDOW_MS"] / 1000,
        urgent=lambda task: task.priority == "high")


def registry() -> TaskRegistry:
    return current_app.extensions["registry"]


def webhook_store() -> WebhookStore:
    return current_app.extensions["webhook_store"]


def task_waits() -> TaskWaits:
    return current_app.extensions["task_waits"]


def celery():
    return current_app.extensions["celery"]


def group_commit() -> GroupCommit:
    return current_app.extensions["group_commit"]
