"""One webhook POST, to the address that was checked (no second DNS lookup to rebind)."""
import time
from dataclasses import dataclass

import urllib3

from tasks.webhooks import addresses

MAX_RESPONSE_BYTES = 4096  # read, and thrown away, so the connection ends cleanly
USER_AGENT = "sentiment-platform-webhooks/1"


@dataclass(frozen=True)
class Answer:
    status: int | None  # the receiver's HTTP status, None when none came
    error: str | None  # why no 2xx came
    duration_ms: float

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> Answer:
    """POST ``body``; redirects are not followed (a 3xx could point anywhere): it is a failure.

    Raises ``addresses.URLRefused`` when the URL may not be called now.
    """
    target = addresses.parse(url)
    address = addresses.checked_address(target, allow_private)
    options = {"host": str(address), "port": target.port, "maxsize": 1, "retries": False,
               "timeout": urllib3.Timeout(connect=timeout, read=timeout)}
    if target.scheme == "https":  # TLS to the address, certificate checked for the name
        pool = urllib3.HTTPSConnectionPool(server_hostname=target.host,
                                           assert_hostname=target.host,
                                           cert_reqs="CERT_REQUIRED", **options)
    else:
        pool = urllib3.HTTPConnectionPool(**options)
    headers = {**headers, "Host": target.host_header, "User-Agent": USER_AGENT,
               "Content-Type": "application/json"}
    started = time.perf_counter()
    try:
        with pool:
            response = pool.urlopen("POST", target.path, body=body, headers=headers,
                                    redirect=False, preload_content=False,
                                    assert_same_host=False)
            response.read(MAX_RESPONSE_BYTES)
            response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Answer(None, _describe(exc), _ms(started))
    error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
    return Answer(response.status, error, _ms(started))


def _describe(exc: Exception) -> str:
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timeout"
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"[:300]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
