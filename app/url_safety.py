"""Refuse webhook and callback URLs that point inside the network (SSRF)."""
from flask import current_app

from app.errors import APIError
from tasks.webhooks import addresses


def refusal(url: str) -> str | None:
    """Why a delivery to ``url`` would be refused now, or None."""
    try:
        addresses.check_url(url, current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except addresses.URLRefused as exc:
        return str(exc)
    return None


def url_not_allowed(field: str, reason: str) -> APIError:
    return APIError("URL_NOT_ALLOWED", "This URL may not receive webhooks.", {field: reason})


def refuse_unsafe(url: str, field: str) -> None:
    """``URL_NOT_ALLOWED`` unless ``url`` resolves to addresses a delivery may reach."""
    reason = refusal(url)
    if reason:
        raise url_not_allowed(field, reason)
