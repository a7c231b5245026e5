"""The plain implementation, kept as the yardstick the platform is measured against.

What a competent developer writes first from the seed and Celery's documentation: one Celery
task per message, Redis as broker and result backend, Celery's Redis priority steps, results
read back with ``AsyncResult``, a small Flask app under two sync gunicorn workers. It runs
the same analysis function as the platform (``tasks.analysis.analyse``), so the comparison
measures the plumbing, not VADER.
"""
