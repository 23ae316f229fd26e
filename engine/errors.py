"""Errors the engine raises; the API maps each to one HTTP status."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a problem the caller can understand and act on."""

    status = 400

    def __init__(self, message: str, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    """Someone else changed the instance first, or the task is already done."""

    status = 409


class InvalidState(EngineError):
    """The instance or task is not in a state that allows this action."""

    status = 409


class Forbidden(EngineError):
    status = 403


class FormInvalid(EngineError):
    status = 422

    def __init__(self, errors: dict[str, str]):
        super().__init__("the form data is invalid: " + "; ".join(f"{k} {v}" for k, v in errors.items()), errors=errors)
        self.errors = errors


class DeploymentInvalid(EngineError):
    status = 422

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in the deployment",
            problems=[p.to_dict() for p in self.problems],
        )

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]
