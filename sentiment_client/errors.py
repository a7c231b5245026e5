"""The client's exceptions: one for every error answer of the API, one for a wait that ran out."""


class APIError(Exception):
    """An error answer of the API: the envelope's ``code``, ``message`` and ``details``."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 retry_after: float | None = None, request_id: str | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after  # seconds, when the answer said when to come back
        self.request_id = request_id  # the answer's X-Request-ID: find it in the API's logs

    @classmethod
    def from_envelope(cls, status: int, body, text: str = "", retry_after: float | None = None,
                      request_id: str | None = None) -> "APIError":
        """The error an answer carries; answers outside the envelope (a proxy's) keep their text."""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and "code" in error:
            return cls(status, str(error["code"]), str(error.get("message", "")),
                       error.get("details") or {}, retry_after, request_id)
        return cls(status, f"HTTP_{status}", text.strip()[:200] or "No error envelope.",
                   {}, retry_after, request_id)


class WaitTimeout(TimeoutError):
    """Some tasks had not finished when the wait ended; ``finished`` holds those that had."""

    def __init__(self, finished: dict[str, dict], pending: list[str]):
        super().__init__(f"{len(pending)} of {len(finished) + len(pending)} tasks "
                         "not finished in time")
        self.finished = finished
        self.pending = pending
