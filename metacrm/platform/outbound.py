"""Outbound safety: which network addresses the server may send to on a
tenant's behalf (webhooks, e-mail recipients), so a rule written by a tenant
admin cannot reach the instance's own network (server-side request forgery).

Loopback, link-local, private, shared (carrier-grade NAT), multicast,
unspecified and reserved addresses are refused unless the operator lists
them in ``OUTBOUND_ALLOW`` — networks in CIDR form (``"10.0.0.0/8"``) or
exact host names (``"hooks.internal"``; every address such a name resolves
to is then allowed).

The check is made when a connection is opened: the host name is resolved
once, every address it resolves to is checked, and the socket connects to
one of those checked addresses — never to a second resolution, so a DNS
answer that changes between check and connect (rebinding) cannot slip
through. :func:`open_url` is the HTTP client that does so on every hop,
redirects included. Depends on :mod:`metacrm.platform.errors` only.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from metacrm.platform.errors import ConfigError, MetacrmError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(MetacrmError):
    """The target is an address the server must not send to. Not a network
    failure: trying again cannot help, so deliveries fail at once."""

    status = 422
    code = "outbound_refused"


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's allow-list, parsed from ``OUTBOUND_ALLOW``."""

    networks: tuple[IPNetwork, ...] = ()
    host_names: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboundPolicy:
        raw = config.get("OUTBOUND_ALLOW") or []
        if isinstance(raw, str):  # METACRM_OUTBOUND_ALLOW="10.0.0.0/8,hooks.internal"
            raw = raw.split(",")
        networks, names = [], set()
        for entry in raw:
            entry = str(entry).strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not _is_host_name(entry):
                    raise ConfigError(
                        f"OUTBOUND_ALLOW: {entry!r} is neither a network (10.0.0.0/8) nor a host name"
                    ) from None
                names.add(entry.rstrip("."))
        return cls(tuple(networks), frozenset(names))

    def address_allowed(self, address: IPAddress) -> bool:
        address = _unmapped(address)
        if any(address in network for network in self.networks):
            return True
        return not _is_internal(address)

    def check_host(self, host: str, port: int) -> list[tuple]:
        """Resolve ``host`` and return its ``getaddrinfo`` entries, every one
        of them checked; OutboundRefused when any address is forbidden (a
        name that resolves to a public and a private address is refused)."""
        host = host.strip("[]").lower().rstrip(".")
        literal = _literal_address(host)
        if host in self.host_names:
            return _resolve(host, port)
        if literal is not None:
            if not self.address_allowed(literal):
                raise OutboundRefused(f"{host} is {_kind(literal)} and not in OUTBOUND_ALLOW")
            return _resolve(host, port)
        entries = _resolve(host, port)
        for entry in entries:
            address = ipaddress.ip_address(entry[4][0].split("%", 1)[0])
            if not self.address_allowed(address):
                raise OutboundRefused(f"{host} resolves to {address}, {_kind(address)} and not in OUTBOUND_ALLOW")
        return entries

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is a forbidden address literal or a name
        like ``localhost`` (no DNS look-up: for definitions, which may be
        saved on one instance and run on another)."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        self.check_literal_host(host)

    def check_literal_host(self, host: str) -> None:
        host = host.strip("[]").lower().rstrip(".")
        if host in self.host_names:
            return
        literal = _literal_address(host)
        if literal is not None and not self.address_allowed(literal):
            raise OutboundRefused(f"{host} is {_kind(literal)} and not in OUTBOUND_ALLOW")
        if literal is None and (host == "localhost" or host.endswith(".localhost")):
            raise OutboundRefused(f"{host} is the server itself and not in OUTBOUND_ALLOW")

    def check_email(self, address: str) -> None:
        """Mail goes through the operator's relay, which finds the recipient's
        server; what we can refuse is a domain naming an address or this host
        (``ann@[127.0.0.1]``, ``root@localhost``)."""
        domain = address.rpartition("@")[2].strip().lower()
        if domain.startswith("[") and domain.endswith("]"):
            domain = domain[1:-1].removeprefix("ipv6:")
        self.check_literal_host(domain)


def _is_host_name(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1 on the wire.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_internal(address: IPAddress) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


def _kind(address: IPAddress) -> str:
    address = _unmapped(address)
    for flag, name in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "the unspecified address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, flag):
            return name
    return "not a public address"


def _resolve(host: str, port: int) -> list[tuple]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None


def _checked_connection(policy: OutboundPolicy):
    """A replacement for ``socket.create_connection`` that connects only to
    addresses the policy allowed, from the one resolution it checked."""

    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in policy.check_host(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"no address to connect to for {host}")

    return create_connection


def _connection_class(base, policy: OutboundPolicy):
    class CheckedConnection(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = _checked_connection(policy)

    return CheckedConnection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: OutboundPolicy):
        super().__init__()
        self.connection_class = _connection_class(http.client.HTTPConnection, policy)

    def http_open(self, req):
        return self.do_open(self.connection_class, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: OutboundPolicy):
        super().__init__()
        self.connection_class = _connection_class(http.client.HTTPSConnection, policy)

    def https_open(self, req):
        return self.do_open(self.connection_class, req, context=self._context)


def open_url(request: urllib.request.Request, *, policy: OutboundPolicy, timeout: float):
    """``urllib.request.urlopen`` with every connection — the first and each
    redirect's — checked against ``policy``. Only http and https (no file:,
    ftp: or data: handlers) and no proxy from the environment, whose address
    would be checked instead of the target's."""
    opener = urllib.request.OpenerDirector()
    handlers: Iterable = (
        _HTTPHandler(policy),
        _HTTPSHandler(policy),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    )
    for handler in handlers:
        opener.add_handler(handler)
    return opener.open(request, timeout=timeout)
