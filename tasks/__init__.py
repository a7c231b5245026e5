"""Celery app, the sentiment task and the task registry it shares with the API."""
