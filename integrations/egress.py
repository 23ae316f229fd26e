"""Where outgoing webhooks may connect: a guard against subscriptions aimed at internal services (SSRF).

``MOTCUA_WEBHOOK_BLOCKED_NETWORKS`` lists what a delivery must not reach: CIDR blocks and the words
``link-local`` (169.254.0.0/16, fe80::/10), ``metadata`` (the cloud metadata services' addresses, some of
which are not link-local), ``loopback`` and ``private`` (loopback, RFC 1918, unique-local, link-local,
carrier-grade NAT, reserved, multicast, unspecified). ``MOTCUA_WEBHOOK_ALLOWED_NETWORKS`` lists exceptions
(an internal bus at 10.20.0.0/16, say). The national portal's feed URL is set by the operator, not by a
subscriber: its host is trusted.

A host name is resolved here and every address is checked **before** connecting; the connection goes to
an address that passed, so a name that resolved to a public address when the subscription was made and
to an internal one later (DNS rebinding) is refused, and nothing — not even a TCP handshake — reaches a
blocked address. IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo) are checked as
that IPv4 address. Environment proxies are not used: through a proxy the target could not be checked.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "MOTCUA_WEBHOOK_BLOCKED_NETWORKS"
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")  # not in ipaddress's is_private
NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack…
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
))
KEYWORDS: dict[str, Callable[[Address], bool]] = {
    "link-local": lambda a: a.is_link_local,
    "metadata": lambda a: a in METADATA,
    "loopback": lambda a: a.is_loopback,
    "private": lambda a: (a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast
                          or a.is_unspecified or a in CARRIER_GRADE_NAT),
}


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (::ffff:a.b.c.d, 64:ff9b::a.b.c.d, 2002:…, Teredo)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


class RefusedAddress(OSError):
    """A delivery's connection reached a blocked network; nothing was sent."""


@dataclass(frozen=True)
class Policy:
    blocked_words: tuple[str, ...]
    blocked: tuple[Network, ...]
    allowed: tuple[Network, ...]
    trusted_hosts: frozenset[str] = frozenset()

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached (a sentence naming the rule), or None when it may."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
        for candidate in filter(None, (ip, embedded_ipv4(ip))):
            reason = self._refusal(candidate)
            if reason is not None:
                return reason
        return None

    def _refusal(self, ip: Address) -> str | None:
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        for word in self.blocked_words:
            if KEYWORDS[word](ip):
                return f"{ip} is a {word} address ({SETTING})"
        for net in self.blocked:
            if ip.version == net.version and ip in net:
                return f"{ip} is in the blocked network {net} ({SETTING})"
        return None


@lru_cache(maxsize=8)
def parse(blocked: str, allowed: str, trusted_hosts: str = "") -> Policy:
    """The policy of two comma-separated settings (and the hosts the operator set); a wrong entry is a
    ValueError naming it."""
    words: list[str] = []
    blocked_nets: list[Network] = []
    for item in filter(None, (part.strip() for part in blocked.split(","))):
        if item in KEYWORDS:
            words.append(item)
        else:
            blocked_nets.append(_network(item, SETTING))
    allowed_nets = [_network(item, "MOTCUA_WEBHOOK_ALLOWED_NETWORKS")
                    for item in filter(None, (part.strip() for part in allowed.split(",")))]
    hosts = frozenset(filter(None, (part.strip().lower() for part in trusted_hosts.split(","))))
    return Policy(tuple(words), tuple(blocked_nets), tuple(allowed_nets), hosts)


def _network(text: str, setting: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{setting}: {text!r} is neither a network like 10.0.0.0/8 nor one of "
                         f"{', '.join(KEYWORDS)}") from None


def literal_refusal(policy: Policy, host: str) -> str | None:
    """For a URL whose host is an IP address: why it is refused, at once (names are checked on connect)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return policy.refusal(host)


def connect(policy: Policy, address: tuple[str, int], timeout: float | object = socket._GLOBAL_DEFAULT_TIMEOUT,
            source_address: tuple[str, int] | None = None) -> socket.socket:
    """socket.create_connection, but only to addresses the policy lets through (checked before connecting).

    The refusal names the host, not the address it resolved to: a subscriber learns nothing of the
    internal network's names and numbers from the delivery log."""
    host, port = address
    if host.lower().rstrip(".") in policy.trusted_hosts:
        return socket.create_connection(address, timeout, source_address)
    refused = False
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        if policy.refusal(sockaddr[0]) is not None:
            refused = True
            continue
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    if error is not None:
        raise error
    if refused:
        raise RefusedAddress(f"refused: {host} is in a blocked network ({SETTING})")
    raise OSError(f"{host} has no address")


def opener(policy: Callable[[], Policy], *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP and HTTPS connections go only where ``policy()`` lets them, without proxies."""

    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        return connect(policy(), address, timeout, source_address)

    class GuardedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection  # http.client's own hook for opening the socket

    class GuardedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection  # TLS starts on the socket this returns

    class GuardedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(GuardedHTTPConnection, req)

    class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(GuardedHTTPSConnection, req, context=self._context)

    no_proxies = urllib.request.ProxyHandler({})
    return urllib.request.build_opener(no_proxies, GuardedHTTPHandler, GuardedHTTPSHandler, *handlers)
