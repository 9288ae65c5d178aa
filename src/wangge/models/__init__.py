"""ORM models, one file per concept. Importing this package registers every table."""

from wangge.models.account import Account, AuthSession, LoginAttempt
from wangge.models.audit import AuditRecord
from wangge.models.case import (
    CalendarDay,
    Case,
    CaseAction,
    CaseCategory,
    CasePhoto,
)
from wangge.models.directive import AssignmentAction, Directive, DirectiveAssignment
from wangge.models.event import EventLogEntry, JobRun
from wangge.models.organisation import Organisation, OrganisationCoverage
from wangge.models.person import Person
from wangge.models.post import Post
from wangge.models.region import LEVELS, Region, RegionShape

__all__ = [
    "LEVELS",
    "Account",
    "AssignmentAction",
    "AuditRecord",
    "AuthSession",
    "CalendarDay",
    "Case",
    "CaseAction",
    "CaseCategory",
    "CasePhoto",
    "Directive",
    "DirectiveAssignment",
    "EventLogEntry",
    "JobRun",
    "LoginAttempt",
    "Organisation",
    "OrganisationCoverage",
    "Person",
    "Post",
    "Region",
    "RegionShape",
]
