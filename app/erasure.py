"""``DELETE /customers/{customer_id}``: erase a customer's texts, results and history."""
import logging

from flask import Blueprint, current_app
from marshmallow import Schema, ValidationError
from werkzeug.routing import PathConverter

from app.auth import require_operator
from app.errors import APIError
from app.schemas import customer_id_field
from app.validation import flatten
from tasks.erasure import Eraser

logger = logging.getLogger(__name__)

bp = Blueprint("erasure", __name__)

CUSTOMER_ID = Schema.from_dict({"customer_id": customer_id_field(required=True)})()


class CustomerIdConverter(PathConverter):
    """A customer id in a path: it may hold a slash (sent as %2F, which the server decodes),
    but not end in ``/sentiment``, which is ``GET /customers/{customer_id}/sentiment``. Any
    other character matches, control characters included, so that validation answers 400
    for them, as documented, rather than routing answering 404."""

    regex = r"[^/][\s\S]*?(?<!/sentiment)"


@bp.record_once
def _create_eraser(state) -> None:
    state.app.url_map.converters["customer_id"] = CustomerIdConverter
    state.app.extensions["eraser"] = Eraser(state.app.extensions["redis"])


@bp.delete("/customers/<customer_id:customer_id>")
def erase_customer(customer_id: str):
    """Erase every stored trace of a customer, for a privacy request (operator token).

    Response 200: ``{"customer_id": "CUST123", "erased": {"tasks": 3, "tasks_by_status":
    {"completed": 2, "queued": 1}, "idempotency_keys": 1, "history": 1, "events": 9}}``.
    Erasing a customer with nothing stored answers the same with zeros.
    """
    require_operator()
    try:
        CUSTOMER_ID.load({"customer_id": customer_id})
    except ValidationError as exc:
        raise APIError("INVALID_INPUT", "Request validation failed.",
                       flatten(exc.messages)) from None
    erased = current_app.extensions["eraser"].erase(customer_id)
    # Without the customer id: the log must not keep what was just erased.
    logger.info("erased a customer: %d tasks, %d events", erased.tasks, erased.events)
    return {"customer_id": customer_id, "erased": {
        "tasks": erased.tasks, "tasks_by_status": erased.tasks_by_status,
        "idempotency_keys": erased.idempotency_keys, "history": erased.history,
        "events": erased.events}}
