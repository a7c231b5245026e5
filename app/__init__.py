"""The HTTP API: ``create_app()`` builds it from the environment and optional overrides."""
from flask import Flask

import settings


def create_app(test_config: dict | None = None) -> Flask:
    """Build the API: settings from the environment, then the test overrides."""
    app = Flask(__name__)
    app.config.from_mapping(settings.load())
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False

    from app import auth, errors, extensions
    from app.schemas import TaskSubmissionSchema

    errors.init_app(app)
    auth.init_app(app)
    extensions.init_app(app)
    app.extensions["submission_schema"] = TaskSubmissionSchema(
        app.config["MAX_TEXT_CHARS"], app.config["MAX_TASK_TIMEOUT_SECONDS"])

    from app import monitoring, tasks

    app.register_blueprint(tasks.bp)
    app.register_blueprint(monitoring.bp)
    return app
