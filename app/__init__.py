"""The HTTP API: ``create_app()`` builds it from the environment and optional overrides."""
import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import logconfig
import settings


def create_app(test_config: dict | None = None) -> Flask:
    """Build the API: settings from the environment, then the test overrides."""
    app = Flask(__name__)
    app.config.from_mapping(settings.load())
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False
    if not logging.getLogger().handlers:  # under gunicorn, its logconfig_dict did this
        logconfig.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:  # only headers set by our own proxies may say who the client is
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,
                                x_host=proxies, x_port=proxies)

    from app import auth, errors, extensions
    from app.schemas import TaskSubmissionSchema, WebhookSubscriptionSchema, WorkerStartSchema
    from workers.agent import HARD_LIMIT_GRACE_SECONDS

    errors.init_app(app)
    auth.init_app(app)
    extensions.init_app(app)
    app.extensions["submission_schema"] = TaskSubmissionSchema(
        app.config["MAX_TEXT_CHARS"], app.config["MAX_TASK_TIMEOUT_SECONDS"])
    app.extensions["webhook_subscription_schema"] = WebhookSubscriptionSchema()
    app.extensions["worker_start_schema"] = WorkerStartSchema(
        app.config["REQUEUE_AFTER_SECONDS"] - HARD_LIMIT_GRACE_SECONDS)

    from app import (
        channels,
        customers,
        dashboard,
        docs,
        erasure,
        monitoring,
        openapi,
        request_metrics,
        task_search,
        tasks,
        webhooks,
        workers,
        ws,
    )

    request_metrics.init_app(app)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(task_search.bp)
    app.register_blueprint(erasure.bp)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(workers.bp)
    app.register_blueprint(channels.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(dashboard.bp)
    ws.init_app(app)  # its blueprint, the event feed and the socket limit

    from app import rate_limit, request_ids

    rate_limit.init_app(app)  # after the blueprints: it exempts the public views they define
    request_ids.init_app(app)  # outermost: every answer gets X-Request-ID
    return app
