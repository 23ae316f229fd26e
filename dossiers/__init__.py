"""One-stop dossiers: tracking codes, status codes, deadlines, slips, the control sheet."""

from __future__ import annotations


def install() -> None:
    """Let the dossier rules follow every persisted step of the engine."""
    from dossiers import service

    service.install()
