"""ORM models, one file per concept. Importing this package registers every table."""

from wangge.models.organisation import Organisation, OrganisationCoverage
from wangge.models.person import Person
from wangge.models.post import Post
from wangge.models.region import LEVELS, Region, RegionShape

__all__ = [
    "LEVELS",
    "Organisation",
    "OrganisationCoverage",
    "Person",
    "Post",
    "Region",
    "RegionShape",
]
