"""Flower, started only with credentials: it can shut workers down, so it is never open.

``make run`` generates ``FLOWER_BASIC_AUTH``; elsewhere (systemd, another host) it must be
set. Flower reads it, and ``FLOWER_PORT``, from the environment, so neither shows in ``ps``.
"""
import os
import sys


def main() -> None:
    if ":" not in os.environ.get("FLOWER_BASIC_AUTH", ""):
        sys.exit("FLOWER_BASIC_AUTH (user:password) must be set: Flower would be open to anyone")
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    os.execv(celery, [celery, "--app", "tasks.celery_app", "flower", *sys.argv[1:]])  # noqa: S606


if __name__ == "__main__":
    main()
