from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def client(city_client: TestClient) -> TestClient:
    """Logged in as a city-level user (admin + commander at 4107)."""
    return city_client


class TestRegion:
    def test_city_with_counts_and_ancestors(self, client: TestClient) -> None:
        body = client.get("/api/v1/regions/4107").json()
        assert body["name"] == "新乡市" and body["level"] == "city"
        assert body["ancestors"] == [{"code": "41", "name": "河南省", "level": "province"}]
        counts = body["counts"]
        assert (counts["county"], counts["township"], counts["village"]) == (15, 170, 3825)
        assert 4462 <= counts["grid"] <= 4552
        assert counts["staff"] > 0

    def test_unknown_code_is_a_json_404(self, client: TestClient) -> None:
        res = client.get("/api/v1/regions/999999")
        assert res.status_code == 404
        assert res.json() == {"error": "not_found", "message": "region 999999 not found",
                              "code": "999999"}


class TestChildren:
    def test_city_children_are_the_15_county_units_with_counts(self, client: TestClient) -> None:
        children = client.get("/api/v1/regions/4107/children").json()
        assert len(children) == 15
        by_code = {c["code"]: c for c in children}
        assert by_code["410771"]["kind"] == "zone"
        assert sum(c["counts"]["village"] for c in children) == 3825
        assert sum(c["counts"]["township"] for c in children) == 170
        assert all(c["counts"]["grid"] >= c["counts"]["village"] for c in children)

    def test_a_village_has_grid_children_with_15_digit_codes(self, client: TestClient) -> None:
        children = client.get("/api/v1/regions/410702001016/children").json()
        assert children and all(
            c["level"] == "grid" and len(c["code"]) == 15 and c["code"].startswith("410702001016")
            for c in children
        )


class TestGeometry:
    def test_children_shapes_in_wgs84_and_gcj02(self, client: TestClient) -> None:
        wgs = client.get("/api/v1/regions/4107/geometry").json()
        gcj = client.get("/api/v1/regions/4107/geometry?crs=gcj02").json()
        assert wgs["type"] == "FeatureCollection" and len(wgs["features"]) == 15
        first_w, first_g = wgs["features"][0], gcj["features"][0]
        assert first_w["id"] == first_g["id"]
        # GCJ-02 is shifted by a few hundred metres from WGS-84 around Xinxiang.
        dx = first_g["properties"]["centre"][0] - first_w["properties"]["centre"][0]
        assert 0.001 < abs(dx) < 0.02

    def test_include_self_adds_the_region_outline(self, client: TestClient) -> None:
        body = client.get("/api/v1/regions/410702/geometry?include_self=true").json()
        own = [f for f in body["features"] if f["properties"]["self"]]
        assert [f["id"] for f in own] == ["410702"]

    def test_bad_crs_names_the_field(self, client: TestClient) -> None:
        res = client.get("/api/v1/regions/4107/geometry?crs=bd09")
        assert res.status_code == 422 and res.json()["field"] == "crs"


class TestStaff:
    def test_a_grid_has_its_3_plus_n_team(self, client: TestClient) -> None:
        grid = client.get("/api/v1/regions/410702001016/children").json()[0]["code"]
        roles = [p["role"] for p in client.get(f"/api/v1/regions/{grid}/staff").json()]
        assert roles.count("grid_leader") == 1
        assert roles.count("deputy_grid_leader") == 1
        assert 1 <= roles.count("grid_member") <= 2


class TestHealth:
    def test_healthz_and_readyz(self, client: TestClient) -> None:
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/readyz").json()["status"] == "ok"

    def test_openapi_lists_the_region_routes(self, client: TestClient) -> None:
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/api/v1/regions/{code}", "/api/v1/regions/{code}/children",
                "/api/v1/regions/{code}/geometry", "/healthz"} <= set(paths)
