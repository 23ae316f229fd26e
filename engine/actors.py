"""Who is acting, as the engine sees it (no web framework involved)."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLE_ADMIN = "admin"
ROLE_INTEGRATOR = "integrator"
ROLE_DESIGNER = "designer"
ROLE_CLERK = "clerk"
ROLE_SPECIALIST = "specialist"
ROLE_LEADER = "leader"
ROLE_CENTER_LEADER = "center_leader"
ROLES = (ROLE_ADMIN, ROLE_INTEGRATOR, ROLE_DESIGNER, ROLE_CLERK, ROLE_SPECIALIST, ROLE_LEADER, ROLE_CENTER_LEADER)


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    # departments / candidate groups the person belongs to (lanes map to these)
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def acts_for_system(self) -> bool:
        """Administrators and integration accounts may act on any task."""
        return bool({ROLE_ADMIN, ROLE_INTEGRATOR} & self.roles)

    @property
    def can_deploy(self) -> bool:
        return bool({ROLE_ADMIN, ROLE_DESIGNER} & self.roles)

    def may_work_on(self, *, department: str | None, candidate_groups, candidate_users, assignee: str | None) -> bool:
        """The inbox rule: my departments' tasks, or tasks assigned/offered to me."""
        if self.acts_for_system:
            return True
        if assignee:
            return assignee == self.username
        if self.username in (candidate_users or ()):
            return True
        if set(candidate_groups or ()) & self.groups:
            return True
        return bool(department) and department in self.groups


SYSTEM = Actor("system", frozenset({ROLE_ADMIN}))
