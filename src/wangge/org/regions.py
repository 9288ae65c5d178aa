"""Reading the region tree: details, children with counts, shapes, a region's staff."""

from __future__ import annotations

import json
from typing import Any

import shapely
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.geo.crs import CRS, transform_geometry, wgs84_to_gcj02
from wangge.kit.errors import NotFound
from wangge.models import Region, RegionShape
from wangge.models.region import CODE_LENGTHS
from wangge.org.repository import RegionRepository
from wangge.org.schemas import ChildOut, RegionCounts, RegionOut, RegionRef, StaffPostOut

ANCESTOR_LENGTHS = sorted(CODE_LENGTHS.values())


def ancestor_codes(code: str) -> list[str]:
    return [code[:n] for n in ANCESTOR_LENGTHS if n < len(code)]


def _counts(levels: dict[str, int], staff: int) -> RegionCounts:
    return RegionCounts(
        county=levels.get("county", 0), township=levels.get("township", 0),
        village=levels.get("village", 0), grid=levels.get("grid", 0), staff=staff,
    )


class RegionService:
    async def _require(self, repo: RegionRepository, code: str) -> Region:
        region = await repo.get(code)
        if region is None:
            raise NotFound(f"region {code} not found", code=code)
        return region

    async def get(self, session: AsyncSession, subject: Subject, code: str) -> RegionOut:
        """Gets a region with its ancestors and the counts beneath it."""
        repo = RegionRepository(session, subject)
        region = await self._require(repo, code)
        ancestors = await repo.breadcrumbs(ancestor_codes(code))
        counts = _counts(await repo.level_counts(code), await repo.distinct_people(code))
        return RegionOut(
            code=region.code, name=region.name, level=region.level,
            parent_code=region.parent_code, kind=region.kind, urban=region.urban,
            households=region.households, synthetic=region.synthetic, counts=counts,
            ancestors=[RegionRef(code=a.code, name=a.name, level=a.level) for a in ancestors],
        )

    async def home(self, session: AsyncSession, subject: Subject, preferred: str) -> str | None:
        """Where browsing starts: ``preferred`` if readable, else the first city or province, else
        the subject's highest own region."""
        repo = RegionRepository(session, subject)
        if await repo.get(preferred) is not None:
            return preferred
        for level in ("city", "province"):
            if (region := await repo.first_of_level(level)) is not None:
                return region.code
        # Below city level: the highest region of the subject's own posts.
        own = await repo.get_many([p for p in subject.prefixes if p])
        return min((r.code for r in own), key=lambda c: (len(c), c), default=None)

    async def names(self, session: AsyncSession, subject: Subject,
                    codes: list[str]) -> dict[str, str]:
        """Names of regions in scope or above it (breadcrumbs, case owners and handlers)."""
        if not codes:
            return {}
        repo = RegionRepository(session, subject)
        return {r.code: r.name for r in await repo.breadcrumbs(sorted(set(codes)))}

    async def children(self, session: AsyncSession, subject: Subject, code: str) -> list[ChildOut]:
        """Lists a region's children, each with the counts beneath it."""
        repo = RegionRepository(session, subject)
        await self._require(repo, code)
        children = await repo.children(code)
        if not children:
            return []
        child_len = len(children[0].code)
        levels = await repo.level_counts_by_child(code, child_len)
        staff = await repo.staff_counts_by_child(code, child_len)
        return [
            ChildOut(
                code=c.code, name=c.name, level=c.level, kind=c.kind, urban=c.urban,
                households=c.households, synthetic=c.synthetic,
                counts=_counts(levels.get(c.code, {}), staff.get(c.code, 0)),
            )
            for c in children
        ]

    async def geometry(
        self, session: AsyncSession, subject: Subject, code: str, *, crs: CRS = "wgs84",
        include_self: bool = False,
    ) -> dict[str, Any]:
        """GeoJSON FeatureCollection of a region's children (and optionally itself)."""
        repo = RegionRepository(session, subject)
        region = await self._require(repo, code)
        pairs = await repo.child_shapes(code)
        if include_self and (own := await repo.shape(code)) is not None:
            pairs.insert(0, (region, own))
        return {
            "type": "FeatureCollection",
            "crs_name": crs,
            "features": [_feature(r, s, crs, is_self=r.code == code) for r, s in pairs],
        }

    async def staff(self, session: AsyncSession, subject: Subject, code: str) -> list[StaffPostOut]:
        """Lists the posts held at exactly this region with their people."""
        repo = RegionRepository(session, subject)
        await self._require(repo, code)
        return [
            StaffPostOut(
                post_id=post.id, role=post.role, title=post.title, person_id=person.id,
                person_name=person.name, staff_no=person.staff_no, service=person.service,
                organisation_code=org.code if org else None,
                organisation_name=org.name if org else None,
            )
            for post, person, org in await repo.staff_at(code)
        ]


def _feature(region: Region, shape: RegionShape, crs: CRS, *, is_self: bool) -> dict[str, Any]:
    geometry: Any = json.loads(shape.geometry)
    centre = [shape.centre_lng, shape.centre_lat]
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(shape.centre_lng, shape.centre_lat)
        centre = [float(x), float(y)]
        geometry = shapely.geometry.mapping(
            transform_geometry(shapely.geometry.shape(geometry), wgs84_to_gcj02)
        )
    return {
        "type": "Feature",
        "id": region.code,
        "geometry": geometry,
        "properties": {
            "code": region.code, "name": region.name, "level": region.level,
            "kind": region.kind, "synthetic": shape.synthetic, "source": shape.source,
            "centre": centre, "self": is_self,
        },
    }


region_service = RegionService()
