"""Customer routes: a customer's recent sentiment and its trend."""
from flask import Blueprint, current_app, g

from app import formatting
from tasks import customer_history

bp = Blueprint("customers", __name__)


@bp.get("/customers/<customer_id>/sentiment")
def customer_sentiment(customer_id: str):
    """The customer's recent messages, newest first, and the trend of their sentiment.

    An operator sees every message; a channel token only those it submitted, and the trend
    of those. A customer with no recent message (or an id no submission could have) has an
    empty list and no trend.

    Response 200: ``{"customer_id": "CUST123", "messages": [{"task_id": "task_...",
    "at": "2026-11-29T14:18:56.087+00:00", "channel": "chat", "sentiment": "negative",
    "compound": -0.71}, ...], "trend": {"direction": "worsening", "change": -0.93,
    "earlier_mean": 0.22, "recent_mean": -0.71, "compared": 1}, "history_limit": 50}``
    """
    entries = customer_history.read(current_app.extensions["redis"], customer_id)
    if not g.principal.is_operator:
        entries = [entry for entry in entries if entry.owner == g.principal.id]
    trend = customer_history.trend([entry.compound for entry in reversed(entries)])
    return {
        "customer_id": customer_id,
        "messages": [{"task_id": entry.task_id, "at": formatting.timestamp(entry.at),
                      "channel": entry.channel, "sentiment": entry.sentiment,
                      "compound": entry.compound} for entry in entries],
        "trend": None if trend is None else {
            "direction": trend.direction, "change": round(trend.change, 4),
            "earlier_mean": round(trend.earlier_mean, 4),
            "recent_mean": round(trend.recent_mean, 4), "compared": trend.compared},
        "history_limit": current_app.config["CUSTOMER_HISTORY_SIZE"],
    }

