"""Per-app shared objects: the Redis client, the task registry, the Celery app."""
from flask import Flask, current_app

from tasks.celery_app import celery_app
from tasks.connections import connect
from tasks.registry import TaskRegistry


def init_app(app: Flask) -> None:
    """Create the Redis client and registry once per process, from the app's config."""
    client = connect(app.config["REDIS_URL"])
    app.extensions["redis"] = client
    app.extensions["registry"] = TaskRegistry(
        client, app.config["TASK_TTL_SECONDS"], app.config["EVENT_STREAM_MAXLEN"],
        app.config["ESTIMATE_WINDOW_SECONDS"])
    celery_app.conf.broker_url = app.config["REDIS_URL"]
    app.extensions["celery"] = celery_app


def registry() -> TaskRegistry:
    return current_app.extensions["registry"]
