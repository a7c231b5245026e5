"""gunicorn settings, from the environment through ``settings``."""
# Not `import logconfig`: every name in this module that matches a gunicorn setting is read as
# one, and `logconfig` is a setting.
import settings
from logconfig import gunicorn_config as _logging_config

_config = settings.load()

bind = f"0.0.0.0:{_config['PORT']}"
workers = _config["WEB_CONCURRENCY"]
# One event loop per process: a request waiting on Redis, or a WebSocket waiting for events,
# costs a greenlet, not a thread; the gthread worker spent as much CPU handing requests between
# threads as Flask spent serving them. The app's own threads (group commit, event feed, metrics
# flusher) become greenlets of the same loop. The worker runs gevent's own HTTP server: see
# app.gunicorn_worker.
worker_class = "app.gunicorn_worker.Worker"
keepalive = 2  # seconds an idle connection, or a request head, may wait (README: Errors)
worker_connections = _config["WEB_CONNECTIONS"]
graceful_timeout = 20
timeout = 30
accesslog = "-"
# The path without its query string: a client that puts a token in the URL must not have it
# written to the log. The request id (X-Request-ID) is added by logconfig's formatters.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Builds only the atoms the format above and the JSON lines read (logconfig.AccessAtoms).
logger_class = "logconfig.AccessAtoms"
loglevel = _config["LOG_LEVEL"].lower()
# gunicorn's error and access logs and the app's own, in LOG_FORMAT on stdout; the access line
# carries the request's X-Request-ID (and in JSON its atoms as fields).
logconfig_dict = _logging_config(_config["LOG_FORMAT"], _config["LOG_LEVEL"])
# gunicorn's control socket defaults to one path per user (~/.gunicorn); several servers on
# one host (tests, make run, bench) would delete each other's.
control_socket_disable = True


def post_worker_init(worker):
    """Freeze start-up objects (``tasks.gc_freeze``); on SIGTERM, open WebSockets get a close
    frame before gunicorn's graceful wait."""
    import signal

    from app.ws import close_all
    from tasks.gc_freeze import freeze

    freeze()

    stop_serving = signal.getsignal(signal.SIGTERM)  # gunicorn's own handler

    def close_sockets_then_stop(signum, frame):
        close_all(worker.wsgi)
        stop_serving(signum, frame)

    signal.signal(signal.SIGTERM, close_sockets_then_stop)
