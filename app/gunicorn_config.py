"""gunicorn settings, from the environment through ``settings``."""
import settings

_config = settings.load()

bind = f"0.0.0.0:{_config['PORT']}"
workers = _config["WEB_CONCURRENCY"]
# Threads let one process hold WebSocket connections while it serves requests.
worker_class = "gthread"
threads = _config["WEB_THREADS"]
graceful_timeout = 20
timeout = 30
accesslog = "-"
loglevel = _config["LOG_LEVEL"].lower()
