"""The one outbound HTTP client: timeouts, TLS verification, bounded answers, and no internal addresses.

Every request the adapter makes to another system goes through `OutboundClient`. It refuses
loopback, private, link-local, multicast and reserved addresses unless the host is explicitly
allowed (`MC_OUTBOUND_ALLOW_HOSTS`, a sandbox and test setting), so no one can point the
adapter at internal services. The check is made on the socket actually connected (after DNS),
so a name that resolves to a public address at check time and a private one at connect time
(DNS rebinding) is refused too. Plain `http` is refused for hosts that are not allowed.
Redirects are never followed: a receiver that redirects is misconfigured, and following it
would let a receiver steer the adapter to an address of its choosing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class AddressRefused(Exception):
    """The destination's address is not one the adapter may connect to."""


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: status, headers, and at most `max_response_bytes` of its body."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False


def refusal(address: str) -> str | None:
    """Why the adapter may not connect to `address` (an IP), or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, what in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
                       ("is_multicast", "multicast"), ("is_reserved", "reserved"), ("is_unspecified", "unspecified")):
        if getattr(ip, flag):
            return f"{what} address"
    return None


def _guarded(base: type, allowed_hosts: frozenset[str]) -> type:
    class Guarded(base):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            if self.host.lower() not in allowed_hosts:
                reason = refusal(sock.getpeername()[0])
                if reason is not None:
                    sock.close()
                    raise AddressRefused(f"{self.host} connects to a {reason}; not allowed for deliveries")
            return sock

    return Guarded


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allowed_hosts: frozenset[str]):
        self._allowed = allowed_hosts
        super().__init__(max_retries=0, pool_connections=10, pool_maxsize=20)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": _guarded(HTTPConnection, self._allowed)})
        https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": _guarded(HTTPSConnection, self._allowed)})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


@dataclass(frozen=True)
class OutboundSettings:
    """Limits of outbound HTTP (configuration: MC_OUTBOUND_*)."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_response_bytes: int = 1024 * 1024
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)  # may be loopback/private, may be http
    verify_tls: bool | str = True  # True, or a CA bundle's path


def check_url(url: str, *, allowed_hosts: frozenset[str], plain_http: bool = False) -> None:
    """Refuse a URL the adapter will never call: not absolute http(s), credentials in it, plain http
    (unless `plain_http`: the sandbox) or a literal internal address for a host that is not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("the destination is not an absolute http(s) URL")
    if parts.username or parts.password:
        raise AddressRefused("credentials belong in configuration, not in the destination URL")
    host = parts.hostname.lower()
    if host in allowed_hosts:
        return
    if parts.scheme == "http" and not plain_http:
        raise AddressRefused("deliveries use https (plain http only to hosts allowed by MC_OUTBOUND_ALLOW_HOSTS)")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = refusal(str(literal))
    if reason:
        raise AddressRefused(f"the destination is a {reason}; not allowed for deliveries")


class OutboundClient:
    """POSTs and GETs to other systems under the rules above; thread-safe per instance."""

    def __init__(self, settings: OutboundSettings | None = None):
        self.settings = settings or OutboundSettings()
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or netrc from the environment: the peer check must see the receiver
        self._allowed = frozenset(h.lower() for h in self.settings.allowed_hosts)
        adapter = _GuardedAdapter(self._allowed)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def check_url(self, url: str) -> None:
        """Refuse a URL the adapter will never call (see `check_url`)."""
        check_url(url, allowed_hosts=self._allowed)

    def request(self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> Answer:
        """Send one request; raise `AddressRefused` or a `requests` exception, or return the bounded answer.

        `timeout` shortens the read timeout for this request (a receiver that asked for less); the
        configured one stays the most a delivery thread waits.
        """
        self.check_url(url)
        read_timeout = self.settings.read_timeout if timeout is None else min(timeout, self.settings.read_timeout)
        response = self._session.request(
            method, url, data=body, headers=headers or {}, allow_redirects=False, stream=True,
            timeout=(self.settings.connect_timeout, read_timeout),
            verify=self.settings.verify_tls,
        )
        try:
            limit = self.settings.max_response_bytes
            content = response.raw.read(limit + 1, decode_content=True) or b""
        except (urllib3.exceptions.HTTPError, OSError):
            content = b""
        finally:
            response.close()
        return Answer(response.status_code, dict(response.headers), content[:limit], len(content) > limit)

    def post(self, url: str, *, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Answer:
        """POST `body` to `url`."""
        return self.request("POST", url, body=body, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._session.close()


def client_for(config) -> OutboundClient:
    """The outbound HTTP client under the configuration's limits (MC_OUTBOUND_*)."""
    return OutboundClient(OutboundSettings(
        connect_timeout=config.outbound_connect_timeout, read_timeout=config.outbound_read_timeout,
        max_response_bytes=config.outbound_max_response_bytes, allowed_hosts=frozenset(config.outbound_allow_hosts),
        verify_tls=config.outbound_ca_bundle or True,
    ))
