from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangge.kit.db import Base, UTCDateTime, utcnow

# Levels from the top; a region's code length tells its level (2, 4, 6, 9, 12, 15 digits).
LEVELS = ("province", "city", "county", "township", "village", "grid")
CODE_LENGTHS = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12, "grid": 15}
LEVEL_BY_LENGTH = {length: level for level, length in CODE_LENGTHS.items()}


class Region(Base):
    """行政区划 — one node of the hierarchy, from province down to grid (网格).

    The shortened statistical code is the materialised path: a code's prefixes are its ancestors,
    so a subtree is the prefix range ``code >= p AND code < p_end``.
    """

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(15), index=True)
    level: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # county: district | county | county_city | zone; township: street | town | township | other;
    # village: community | village; grid: urban | rural
    kind: Mapped[str | None] = mapped_column(String(16))
    urban: Mapped[bool | None] = mapped_column(Boolean)
    households: Mapped[int | None] = mapped_column(Integer)
    # True for rows we generated (grids); division rows come from the official list.
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegionShape(Base):
    """A region's polygon, as a GeoJSON geometry in WGS-84 (EPSG:4326) longitude/latitude."""

    __tablename__ = "region_shapes"

    code: Mapped[str] = mapped_column(
        String(15), ForeignKey("regions.code", ondelete="CASCADE"), primary_key=True
    )
    geometry: Mapped[str] = mapped_column(Text)
    # official: from published boundaries; derived: official minus a carved-out zone;
    # synthetic: generated as a partition of the parent (no public boundary exists).
    source: Mapped[str] = mapped_column(String(16))
    synthetic: Mapped[bool] = mapped_column(Boolean)
    centre_lng: Mapped[float] = mapped_column(Float)
    centre_lat: Mapped[float] = mapped_column(Float)
    min_lng: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
