from __future__ import annotations

import json

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select
from tests.factories import authorize, bearer_token, create_account

from wangge.app import create_app
from wangge.config import Settings
from wangge.geo.crs import wgs84_to_gcj02
from wangge.kit.db import sync_url, utcnow
from wangge.models import Region, RegionShape

URL = "/api/v1/grids/locate"


@pytest.fixture
def client(city_client: TestClient) -> TestClient:
    """Logged in as a city-level user (admin + commander at 4107)."""
    return city_client


def sample_grids(url: str, every: int = 450) -> list[tuple[str, str, shapely.Geometry]]:
    """Every ``every``-th grid with a shape: (code, name, polygon)."""
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(Region.code, Region.name, RegionShape.geometry)
            .join(RegionShape, RegionShape.code == Region.code)
            .where(Region.level == "grid")
            .order_by(Region.code)
        ).all()
    engine.dispose()
    return [(code, name, shapely.from_geojson(g)) for code, name, g in rows[::every]]


class TestLocate:
    def test_a_grids_representative_point_finds_it_and_its_ancestors(
        self, client: TestClient, xinxiang: str
    ) -> None:
        grids = sample_grids(xinxiang)
        assert len(grids) >= 10
        for code, name, polygon in grids:
            p = polygon.representative_point()
            res = client.get(URL, params={"lng": p.x, "lat": p.y})
            assert res.status_code == 200, res.text
            body = res.json()
            assert (body["code"], body["name"]) == (code, name)
            assert body["village"]["code"] == code[:12]
            assert body["township"]["code"] == code[:9]
            assert body["county"]["code"] == code[:6]
            assert all(body[level]["name"] for level in ("village", "township", "county"))
            assert body["point"] == {"lng": p.x, "lat": p.y}
            assert body["crs"] == "wgs84"

    def test_gcj02_input_is_converted_to_wgs84(self, client: TestClient, xinxiang: str) -> None:
        code, _, polygon = sample_grids(xinxiang)[3]
        p = polygon.representative_point()
        gx, gy = wgs84_to_gcj02(p.x, p.y)
        assert abs(float(gx) - p.x) > 1e-3  # hundreds of metres apart
        body = client.get(URL, params={"lng": float(gx), "lat": float(gy), "crs": "gcj02"}).json()
        assert body["code"] == code
        assert body["crs"] == "gcj02"
        assert abs(body["point"]["lng"] - p.x) < 1e-7
        assert abs(body["point"]["lat"] - p.y) < 1e-7

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"lng": 181, "lat": 35}, "lng"), ({"lng": -180.5, "lat": 35}, "lng"),
         ({"lng": 114, "lat": 90.01}, "lat"), ({"lng": 114, "lat": "north"}, "lat"),
         ({"lat": 35}, "lng"), ({"lng": 114, "lat": 35, "crs": "bd09"}, "crs")],
    )
    def test_bad_input_is_a_422_naming_the_field(
        self, client: TestClient, params: dict, field: str
    ) -> None:
        res = client.get(URL, params=params)
        assert res.status_code == 422
        body = res.json()
        assert body["error"] == "invalid_input" and body["field"] == field

    @pytest.mark.parametrize(("lng", "lat"), [(0.0, 0.0), (116.4, 39.9), (113.0, 35.3)])
    def test_a_point_in_no_grid_is_a_json_404(
        self, client: TestClient, lng: float, lat: float
    ) -> None:
        res = client.get(URL, params={"lng": lng, "lat": lat})
        assert res.status_code == 404
        body = res.json()
        assert body["error"] == "not_found" and body["message"]

    def test_route_does_not_shadow_regions(self, client: TestClient) -> None:
        assert client.get("/api/v1/regions/4107").json()["code"] == "4107"


def _add_grid(url: str, code: str, box: tuple[float, float, float, float]) -> None:
    polygon = shapely.box(*box)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        existing = set(conn.scalars(select(Region.code)))
        parents = [(code[:6], "county", "测试县"), (code[:9], "township", "测试镇"),
                   (code[:12], "village", "测试村")]
        rows = [
            {"code": c, "parent_code": c[: {6: 4, 9: 6, 12: 9}[len(c)]], "level": level,
             "name": name, "synthetic": True, "created_at": utcnow()}
            for c, level, name in parents if c not in existing
        ]
        rows.append({"code": code, "parent_code": code[:12], "level": "grid",
                     "name": f"网格{code[-3:]}", "synthetic": True, "created_at": utcnow()})
        conn.execute(insert(Region), rows)
        c = polygon.centroid
        conn.execute(insert(RegionShape), [{
            "code": code, "geometry": json.dumps(shapely.geometry.mapping(polygon)),
            "source": "synthetic", "synthetic": True, "centre_lng": c.x, "centre_lat": c.y,
            "min_lng": box[0], "min_lat": box[1], "max_lng": box[2], "max_lat": box[3],
        }])
    engine.dispose()


class TestIndexCache:
    def test_the_index_follows_the_grids_in_the_database(self, database: str) -> None:
        engine = create_engine(sync_url(database))
        with engine.begin() as conn:
            conn.execute(insert(Region), [{"code": "41", "level": "province", "name": "河南省",
                                           "synthetic": False, "created_at": utcnow()}])
        engine.dispose()
        create_account(database, "province-analyst", posts=["analyst@41"])
        settings = Settings(database_url=database, grid_index_check_seconds=0)
        with TestClient(create_app(settings)) as client:
            authorize(client, bearer_token(client, "province-analyst"))
            assert client.get(URL, params={"lng": 114.05, "lat": 35.05}).status_code == 404
            _add_grid(database, "410702001001001", (114.0, 35.0, 114.1, 35.1))
            body = client.get(URL, params={"lng": 114.05, "lat": 35.05}).json()
            assert body["code"] == "410702001001001"
            assert body["village"] == {"code": "410702001001", "name": "测试村"}
            _add_grid(database, "410702001001002", (114.1, 35.0, 114.2, 35.1))
            body = client.get(URL, params={"lng": 114.15, "lat": 35.05}).json()
            assert body["code"] == "410702001001002"
            assert client.app.state.grid_index._index is not None
            assert len(client.app.state.grid_index._index) == 2
