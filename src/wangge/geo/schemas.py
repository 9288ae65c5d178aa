"""API shapes of the geo domain."""

from __future__ import annotations

from pydantic import BaseModel, Field

from wangge.geo.crs import CRS


class PlaceRef(BaseModel):
    code: str
    name: str


class PointOut(BaseModel):
    lng: float
    lat: float


class LocateOut(BaseModel):
    """The grid (网格) holding a point, with the village, township and county above it."""

    code: str = Field(description="15-digit grid code")
    name: str
    village: PlaceRef | None = Field(description="None only if outside the caller's scope")
    township: PlaceRef | None
    county: PlaceRef | None
    point: PointOut = Field(description="The point looked up, in WGS-84")
    crs: CRS = Field(description="Coordinate system the point was given in")
