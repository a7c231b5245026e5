"""Probes, each with a bounded time: does Redis answer, does a URL answer, is a port taken."""
import errno
import logging
import socket
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

import redis
from supervisor.xmlrpc import SupervisorTransport

logger = logging.getLogger(__name__)


def ping_redis(url: str, timeout: float = 1.0) -> None:
    """PING the Redis at `url`; raises redis.RedisError when it does not answer."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def wait_for_redis(url: str, attempts: int = 5, interval: float = 1.0) -> None:
    """PING until Redis answers; raises the last redis.RedisError after `attempts` tries."""
    for attempt in range(1, attempts + 1):
        try:
            ping_redis(url)
            return
        except redis.RedisError as error:
            logger.debug("Redis PING %d/%d failed: %s", attempt, attempts, error)
            if attempt == attempts:
                raise
            time.sleep(interval)


def redis_answers(url: str) -> bool:
    """True when the Redis at `url` answers PING now."""
    try:
        ping_redis(url)
    except redis.RedisError:
        return False
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status `url` answers a GET with, or None when nothing answers."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    try:
        # Only http(s), checked above: never file: or custom schemes.
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def port_in_use(port: int) -> bool:
    """True when something listens on `port` (any address), so a server could not bind it."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like the servers themselves: connections in TIME_WAIT do not block the port.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("0.0.0.0", port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return True
        raise
    finally:
        probe.close()
    return False


def unix_socket_answers(path: Path) -> bool:
    """True when a server accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def programs_running(socket_path: Path, username: str, password: str) -> bool:
    """True when supervisord answers on its socket and every program is RUNNING."""
    transport = SupervisorTransport(username, password, f"unix://{socket_path}")
    # The URL is a placeholder: the transport always talks to the socket.
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport)
    try:
        return all(info["statename"] == "RUNNING"
                   for info in proxy.supervisor.getAllProcessInfo())
    except (OSError, xmlrpc.client.Error):
        return False
    finally:
        transport.close()
