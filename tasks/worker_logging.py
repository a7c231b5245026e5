"""The Celery worker's logs in ``LOG_FORMAT``, through Celery's own logging signals.

Connecting ``setup_logging`` tells Celery not to configure logging itself: the worker's root
logger then gets ``logconfig``'s one handler (stdout, or ``--logfile``), at ``--loglevel``,
and pool processes inherit it when they fork. In JSON, Celery's start-up banner (several
lines of text) gives way to one JSON line with the same essentials. Celery still prints its
shutdown notices (``worker: Warm shutdown (MainProcess)``) as plain text, outside logging.
"""
import logging

from celery.signals import celeryd_after_setup, celeryd_init, setup_logging

import logconfig
import settings

logger = logging.getLogger(__name__)


def configure(loglevel=None, logfile=None) -> None:
    """The worker's root logger: one handler in ``LOG_FORMAT``, Python warnings included."""
    config = settings.load()
    level = loglevel or config["LOG_LEVEL"]
    logconfig.configure(config["LOG_FORMAT"], level, logfile=logfile or None)
    logconfig.quiet_celery_per_message_lines(level)
    logging.captureWarnings(True)


@celeryd_init.connect
def _configure_early(options=None, **_) -> None:
    # Before Celery's own start-up checks, whose warnings (running as root) would otherwise
    # reach stderr as plain text.
    options = options or {}
    configure(options.get("loglevel"), options.get("logfile"))


@setup_logging.connect
def _configure(loglevel=None, logfile=None, **_) -> None:
    configure(loglevel, logfile)


@celeryd_after_setup.connect
def _banner_as_one_line(sender=None, instance=None, **_) -> None:
    if settings.get("LOG_FORMAT") != "json" or instance is None:
        return
    instance.quiet = True  # read right after this signal, before the banner is printed
    logger.info("worker %s starting", sender, extra={
        "node": sender, "concurrency": instance.concurrency,
        "queues": sorted(instance.app.amqp.queues.consume_from or ())})
