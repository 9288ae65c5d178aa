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
from wangge.models.registry import (
    Address,
    CollectionRecord,
    Compound,
    Enterprise,
    Household,
    PiiAccess,
    Place,
    RegistryChange,
    Resident,
    ResidentTag,
    Visit,
    VisitPlan,
)

__all__ = [
    "LEVELS",
    "Account",
    "Address",
    "AssignmentAction",
    "AuditRecord",
    "AuthSession",
    "CalendarDay",
    "Case",
    "CaseAction",
    "CaseCategory",
    "CasePhoto",
    "CollectionRecord",
    "Compound",
    "Directive",
    "DirectiveAssignment",
    "Enterprise",
    "EventLogEntry",
    "Household",
    "JobRun",
    "LoginAttempt",
    "Organisation",
    "OrganisationCoverage",
    "Person",
    "PiiAccess",
    "Place",
    "Post",
    "Region",
    "RegionShape",
    "RegistryChange",
    "Resident",
    "ResidentTag",
    "Visit",
    "VisitPlan",
]
