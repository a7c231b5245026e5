"""Where a webhook may be sent: public addresses only, unless WEBHOOK_ALLOW_PRIVATE is set.

A callback must not become a way into the internal network (cloud metadata at
169.254.169.254, Redis on 127.0.0.1, services on 10.x). The host is resolved and every
address it resolves to is checked, at submission time and again before each delivery (DNS
can change); the delivery then connects to the very address that was checked, so a DNS
answer that changes between the check and the connection (rebinding) cannot bypass it.
"""
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

RESOLVE_TIMEOUT_SECONDS = 2.0
# getaddrinfo has no timeout of its own: lookups run here, and a request waits at most
# RESOLVE_TIMEOUT_SECONDS for one (a hung lookup holds one of these threads, not the request).
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sp-resolve")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class URLRefused(ValueError):
    """A webhook URL that may not be called; ``reason`` says why, for the error details."""

    def __init__(self, reason: str, address: str | None = None, transient: bool = False):
        super().__init__(reason if address is None else f"{reason} ({address})")
        self.reason = reason
        self.address = address
        self.transient = transient  # a DNS failure may pass; a private address stays refused


@dataclass(frozen=True)
class Target:
    """A URL split into what a pinned connection needs."""

    scheme: str
    host: str  # as written in the URL, for the Host header, SNI and certificate checks
    port: int
    path: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise URLRefused("not an http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise URLRefused("invalid port") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path)


def refusal(address: IPAddress) -> str | None:
    """Why a delivery may not go to ``address``, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # shared address space (100.64/10) and the like
        return "not-global"
    return None


def resolve(host: str, port: int, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> list[IPAddress]:
    """Every address ``host`` resolves to (the host itself when it is an address)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise URLRefused("the host name did not resolve in time", transient=True) from None
    except (OSError, UnicodeError):
        raise URLRefused("the host name does not resolve", transient=True) from None
    # scope ids (fe80::1%eth0) are not part of the address
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def checked_address(target: Target, allow_private: bool) -> IPAddress:
    """The address to connect to: the first the host resolves to, once all are allowed.

    Any refused address refuses the URL: a name that resolves to a public and a private
    address could otherwise be steered to the private one.
    """
    addresses = resolve(target.host, target.port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason:
                raise URLRefused(f"resolves to a {reason} address", str(address))
    return addresses[0]


def check_url(url: str, allow_private: bool) -> None:
    """Refuse (``URLRefused``) a URL a delivery could not be sent to."""
    checked_address(parse(url), allow_private)
