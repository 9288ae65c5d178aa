"""Keeps the registry query benchmark working: its quick mode must find every sampled resident
by ID number over HTTP, show each grid's residents as plain SQL does, and report its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "registry_query.py"
PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="the registry query benchmark runs on PostgreSQL")
def test_quick_run_agrees_with_plain_sql() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--pg", str(PG_URL)],
                         capture_output=True, text=True, check=True, timeout=600)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "registry_query" and line["database"] == "postgresql"
    assert line["agree"] is True
    assert line["residents"] > 5_000 and line["lookups"] == 200 and line["grids"] == 30
    for key in ("id_lookup_p50_ms", "id_lookup_p99_ms", "sql_id_lookup_p50_ms",
                "sql_id_lookup_p99_ms", "naive_id_lookup_p50_ms", "id_lookup_vs_sql",
                "naive_vs_id_lookup", "grid_page_p50_ms", "grid_page_p99_ms",
                "grid_page_member_p99_ms", "grid_api_p99_ms", "sql_grid_page_p50_ms",
                "grid_page_vs_sql", "county_list_p50_ms", "sql_county_list_max_ms"):
        assert line[key] > 0, key
    assert line["id_lookup_p50_ms"] <= line["id_lookup_p99_ms"]
    assert line["grid_page_p50_ms"] <= line["grid_page_p99_ms"]
