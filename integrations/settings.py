"""Settings of the integration layer, read from the app configuration once at start-up.

Kept in a module (not read from Flask at call time) because the senders run in the worker and
in tests without a request, and the engine side has no Flask at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from integrations import egress


@dataclass(frozen=True)
class Settings:
    portal_feed_url: str | None = None  # the national portal's sync endpoint; None: no portal feed
    portal_feed_secret: str | None = None
    payment_secret: str | None = None  # shared with the payment platform; None: the endpoint answers 503
    payment_tolerance_seconds: int = 300  # accepted clock difference of a signed request
    timeout_seconds: float = 5.0  # per delivery attempt
    max_attempts: int = 20
    max_age_seconds: int = 3 * 24 * 3600  # a delivery older than this is dead
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0
    lease_seconds: float = 120.0  # a claimed delivery is retried after this if its worker died
    batch: int = 20
    # networks a delivery may not connect to, and exceptions (integrations/egress.py); the default keeps
    # deliveries away from link-local and cloud metadata addresses, production adds "private"
    blocked_networks: str = "link-local, metadata"
    allowed_networks: str = ""


_current = Settings()


def current() -> Settings:
    return _current


def configure(config: Mapping[str, Any]) -> Settings:
    """Take the INTEGRATIONS_*, PORTAL_FEED_* and PAYMENT_WEBHOOK_SECRET keys of the app config."""
    global _current
    values = {
        "portal_feed_url": config.get("PORTAL_FEED_URL") or None,
        "portal_feed_secret": config.get("PORTAL_FEED_SECRET") or None,
        "payment_secret": config.get("PAYMENT_WEBHOOK_SECRET") or None,
    }
    for f in fields(Settings):
        key = f"WEBHOOK_{f.name.upper()}"
        if key in config:
            values[f.name] = type(getattr(_current, f.name))(config[key])
    if values["portal_feed_url"] and not values["portal_feed_secret"]:
        # an unsigned (empty-key) feed could be forged by anyone: refuse to start rather than send it
        raise ValueError("MOTCUA_PORTAL_FEED_URL is set but MOTCUA_PORTAL_FEED_SECRET is not: "
                         "the portal feed is signed with that secret")
    candidate = replace(Settings(), **values)
    egress.parse(candidate.blocked_networks, candidate.allowed_networks)  # a wrong entry stops the start-up
    _current = candidate
    return _current


def override(**values: Any) -> Settings:
    """Change some settings (tests, the CLI); returns the previous ones so they can be restored."""
    global _current
    previous = _current
    _current = replace(_current, **values)
    return previous


def restore(previous: Settings) -> None:
    global _current
    _current = previous
