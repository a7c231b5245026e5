"""A small keep-alive HTTP/JSON client for 127.0.0.1, cheap enough not to skew what it times."""
import http.client
import json
import time

TIMEOUT_SECONDS = 10


class Client:
    """One connection to the API on 127.0.0.1; reconnects when the server closed it."""

    def __init__(self, port: int, token: str, timeout: float = TIMEOUT_SECONDS):
        self.port = port
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None
                ) -> tuple[int, object, float]:
        """Status, parsed JSON body (None when not JSON) and seconds the exchange took."""
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.connection.request(method, path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                raw = response.read()
                elapsed = time.perf_counter() - started
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # An idle keep-alive connection the server had closed; one fresh try.
                self.connection.close()
                if attempt == 2:
                    raise
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        return response.status, answer, elapsed

    def post(self, path: str, document) -> tuple[int, object, float]:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.request("POST", path, body)

    def get(self, path: str) -> tuple[int, object, float]:
        return self.request("GET", path)

    def close(self) -> None:
        self.connection.close()
