"""Keeps the intake benchmark working: its quick mode must store exactly what it was told and
mark exactly the cases past due."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "intake.py"
PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="the intake benchmark runs on PostgreSQL")
def test_quick_run_agrees_with_the_database() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("WANGGE_REQUIRE_BROWSER"):  # CI: .ci/run installs wrk
            pytest.fail("wrk is not installed")
        pytest.skip("wrk not installed (apt-get install wrk)")
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--pg", str(PG_URL)],
                         capture_output=True, text=True, check=True, timeout=600)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "intake" and line["database"] == "postgresql"
    assert line["agree"] is True and line["failures"] == 0
    assert line["intake_per_s"] > 0 and line["healthz_per_s"] > 0
    assert 0 < line["p50_ms"] <= line["p99_ms"]
    assert line["sweep_cases"] == 20_000 and line["sweep_s"] > 0
