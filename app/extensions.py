"""Per-app shared objects: the Redis client, the task registry, the Celery app."""
from flask import Flask, current_app

from tasks.celery_app import make_celery
from tasks.connections import connect
from tasks.registry import TaskRegistry


def init_app(app: Flask) -> None:
    """Create the Redis client and registry once per process, from the app's config."""
    client = connect(app.config["REDIS_URL"])
    app.extensions["redis"] = client
    app.extensions["registry"] = TaskRegistry.from_settings(client, app.config)
    # Its own Celery app, so the broker is the one this Flask app was configured with.
    app.extensions["celery"] = make_celery(app.config["REDIS_URL"])


def registry() -> TaskRegistry:
    return current_app.extensions["registry"]


def celery():
    return current_app.extensions["celery"]
