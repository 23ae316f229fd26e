"""Where outgoing webhooks may connect: a guard against subscriptions aimed at internal services (SSRF).

``MOTCUA_WEBHOOK_BLOCKED_NETWORKS`` lists what a delivery must not reach: CIDR blocks and the words
``link-local`` (169.254.0.0/16, fe80::/10: cloud metadata services), ``loopback`` and ``private``
(loopback, RFC 1918, unique-local, link-local, carrier-grade NAT, reserved, multicast, unspecified).
``MOTCUA_WEBHOOK_ALLOWED_NETWORKS`` lists exceptions (an internal bus at 10.20.0.0/16, say).

The check is made on the address the socket actually connected to, after name resolution and before
any byte of the request (or a TLS handshake) is sent: a name that resolved to a public address when the
subscription was made and to an internal one later (DNS rebinding) is still refused.
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

CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")  # not in ipaddress's is_private
KEYWORDS: dict[str, Callable[[Address], bool]] = {
    "link-local": lambda a: a.is_link_local,
    "loopback": lambda a: a.is_loopback,
    "private": lambda a: (a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast
                          or a.is_unspecified or a in CARRIER_GRADE_NAT),
}


class RefusedAddress(OSError):
    """A delivery's connection reached a blocked network; nothing was sent."""


@dataclass(frozen=True)
class Policy:
    blocked_words: tuple[str, ...]
    blocked: tuple[Network, ...]
    allowed: tuple[Network, ...]

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached (a sentence naming the rule), or None when it may."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return None
        for word in self.blocked_words:
            if KEYWORDS[word](ip):
                return f"{ip} is a {word} address (MOTCUA_WEBHOOK_BLOCKED_NETWORKS)"
        for net in self.blocked:
            if ip.version == net.version and ip in net:
                return f"{ip} is in the blocked network {net} (MOTCUA_WEBHOOK_BLOCKED_NETWORKS)"
        return None


@lru_cache(maxsize=8)
def parse(blocked: str, allowed: str) -> Policy:
    """The policy of two comma-separated settings; a wrong entry is a ValueError naming it."""
    words: list[str] = []
    blocked_nets: list[Network] = []
    for item in filter(None, (part.strip() for part in blocked.split(","))):
        if item in KEYWORDS:
            words.append(item)
        else:
            blocked_nets.append(_network(item, "MOTCUA_WEBHOOK_BLOCKED_NETWORKS"))
    allowed_nets = [_network(item, "MOTCUA_WEBHOOK_ALLOWED_NETWORKS")
                    for item in filter(None, (part.strip() for part in allowed.split(",")))]
    return Policy(tuple(words), tuple(blocked_nets), tuple(allowed_nets))


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


def opener(policy: Callable[[], Policy], *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP and HTTPS connections check the connected address against ``policy()``."""

    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):  # noqa: SLF001
        sock = socket.create_connection(address, timeout, source_address)
        reason = policy().refusal(sock.getpeername()[0])
        if reason is not None:
            sock.close()
            raise RefusedAddress(f"refused: {reason}")
        return sock

    class GuardedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection  # http.client's own hook for opening the socket

    class GuardedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection  # TLS wraps the socket only after the check

    class GuardedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(GuardedHTTPConnection, req)

    class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(GuardedHTTPSConnection, req, context=self._context)

    return urllib.request.build_opener(GuardedHTTPHandler, GuardedHTTPSHandler, *handlers)
