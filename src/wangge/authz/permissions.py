"""Roles and the permissions they grant. Role names are a contract; more may be added."""

from __future__ import annotations

from typing import Protocol

# Permissions (resource:verb). Later issues add their own here, next to the roles that hold them.
REGION_READ = "region:read"
STAFF_READ = "staff:read"
PII_READ = "pii:read"
CASE_READ = "case:read"
CASE_REPORT = "case:report"
CASE_DISPATCH = "case:dispatch"
CASE_HANDLE = "case:handle"
# Reads cases of police-only categories (criminal clues); police posts get it from their
# organisation (wangge.auth.subjects), commanders and deputy grid leaders (officers) by role.
CASE_POLICE = "case:police"
# Edits the case category tree and the working-day calendar (city-wide settings).
CASE_CONFIGURE = "case:configure"
DIRECTIVE_READ = "directive:read"
DIRECTIVE_ISSUE = "directive:issue"
DIRECTIVE_HANDLE = "directive:handle"
# The base registry: read people, households and places of one's regions; create and update
# them (grid work: collection and visits). Unmasked ID numbers and phones need PII_READ too.
REGISTRY_READ = "registry:read"
REGISTRY_WRITE = "registry:write"
# Sets the visit plans (routines) the grids under a region follow.
REGISTRY_PLAN = "registry:plan"
AUDIT_READ = "audit:read"
ADMIN_USERS = "admin:users"
STREAM_READ = "stream:read"

ALL_PERMISSIONS = frozenset({
    REGION_READ, STAFF_READ, PII_READ, CASE_READ, CASE_REPORT, CASE_DISPATCH, CASE_HANDLE,
    CASE_POLICE, CASE_CONFIGURE, DIRECTIVE_READ, DIRECTIVE_ISSUE, DIRECTIVE_HANDLE, AUDIT_READ,
    ADMIN_USERS, STREAM_READ, REGISTRY_READ, REGISTRY_WRITE,
    REGISTRY_PLAN,
})

_READ = {REGION_READ, STAFF_READ, CASE_READ, DIRECTIVE_READ, STREAM_READ, REGISTRY_READ}
_GRID_WORK = _READ | {CASE_REPORT, CASE_HANDLE, DIRECTIVE_HANDLE, REGISTRY_WRITE}
# The grid leader and deputy verify and dispatch what their grid reports, and set its visit plans.
_GRID_LEAD = _GRID_WORK | {CASE_DISPATCH, PII_READ, REGISTRY_PLAN}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(_READ | {ADMIN_USERS, AUDIT_READ, PII_READ, CASE_CONFIGURE}),
    # Commanders issue directives down, and acknowledge and complete those sent to their own
    # unit (a township receiving a county's directive).
    "commander": frozenset(_READ | {CASE_REPORT, CASE_DISPATCH, CASE_HANDLE, CASE_POLICE,
                                    DIRECTIVE_ISSUE, DIRECTIVE_HANDLE, PII_READ,
                                    REGISTRY_PLAN}),
    "analyst": frozenset(_READ),
    "grid_leader": frozenset(_GRID_LEAD),
    "deputy_grid_leader": frozenset(_GRID_LEAD | {CASE_POLICE}),
    "grid_member": frozenset(_GRID_WORK),
    "grid_support": frozenset(_READ | {CASE_REPORT}),
    "department_officer": frozenset(_READ | {CASE_HANDLE, DIRECTIVE_HANDLE}),
}


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


def grants(post: HasRole, permission: str) -> bool:
    """Whether a post's role grants ``permission``."""
    return permission in ROLE_PERMISSIONS.get(post.role, frozenset())


def permissions_of(roles: set[str] | frozenset[str] | list[str]) -> frozenset[str]:
    """The union of the permissions the roles grant (unknown roles grant nothing)."""
    out: set[str] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(out)
