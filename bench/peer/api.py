"""The peer's HTTP API: ``POST /task`` publishes a Celery task, ``GET /task/<id>`` reads it.

Run as ``gunicorn --workers 2 "bench.peer.api:create_app()"`` (sync workers).
"""
import os

from celery.result import AsyncResult
from flask import Flask, request

from bench.peer.celery_app import PRIORITIES, TASK_NAME, make_celery

CHANNELS = ("chat", "voice", "email")


def error(code: str, message: str, status: int):
    return {"error": {"code": code, "message": message, "details": {}}}, status


def create_app() -> Flask:
    app = Flask(__name__)
    celery = make_celery(os.environ["REDIS_URL"])
    analyse = celery.tasks[TASK_NAME]
    tokens = {t.strip() for t in os.environ.get("API_TOKENS", "").split(",") if t.strip()}

    @app.before_request
    def check_token():
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in tokens:
            return error("UNAUTHORIZED", "A valid bearer token is required.", 401)
        return None

    @app.post("/task")
    def submit_task():
        body = request.get_json(silent=True) or {}
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        text, channel = data.get("text"), data.get("channel")
        priority = data.get("priority", "normal")
        if (body.get("type") != "sentiment_analysis" or not isinstance(text, str)
                or not text.strip() or channel not in CHANNELS or priority not in PRIORITIES):
            return error("INVALID_INPUT", "Request validation failed.", 400)
        result = analyse.apply_async(args=[text], priority=PRIORITIES[priority])
        return {"task_id": result.id, "status": "accepted"}, 202

    @app.get("/task/<task_id>")
    def get_task(task_id: str):
        result = AsyncResult(task_id, app=celery)
        state = result.state
        answer = {"task_id": task_id, "status": state}
        if state == "SUCCESS":
            answer["result"] = result.result
        elif state == "FAILURE":
            answer["error"] = {"code": "ANALYSIS_FAILED", "message": str(result.result)}
        return answer

    return app
