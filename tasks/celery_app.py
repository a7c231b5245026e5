"""The Celery application shared by the API (to publish) and the workers (to consume)."""
from celery import Celery

celery_app = Celery("sentiment", include=["tasks.sentiment"])
celery_app.config_from_object("celeryconfig")
