"""Integrators: events out (outbox, signed webhooks, the national portal's status feed) and
events in (signed, idempotent payment confirmations).

Every event is written to the outbox in the same transaction as the step that caused it; the
worker sends the deliveries afterwards with retries, so a receiver that is down loses nothing.
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any) -> None:
    """Apply the configuration and follow every persisted step (after the dossier rules)."""
    from engine import messages
    from integrations import events, settings

    settings.configure(app.config)
    messages.BUFFER_SECONDS = int(app.config.get("MESSAGE_BUFFER_SECONDS", messages.BUFFER_SECONDS))
    events.install()
