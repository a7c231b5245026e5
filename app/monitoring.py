"""Monitoring routes."""
from flask import Blueprint

from app.auth import public

bp = Blueprint("monitoring", __name__)


@bp.get("/health/live")
@public
def live():
    """Liveness for load balancers: the process answers. No auth, no Redis.

    Response 200: ``{"status": "ok"}``
    """
    return {"status": "ok"}
