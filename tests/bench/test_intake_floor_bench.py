"""Keeps the intake floor benchmark working: every answered report stored its three rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "intake_floor.py"
PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="the floor benchmark runs on PostgreSQL")
def test_short_run_stores_every_answered_report() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("WANGGE_REQUIRE_BROWSER"):  # CI: .ci/run installs wrk
            pytest.fail("wrk is not installed")
        pytest.skip("wrk not installed (apt-get install wrk)")
    out = subprocess.run([sys.executable, str(BENCH), "--seconds", "1", "--tokens", "20",
                          "--pg", str(PG_URL)],
                         capture_output=True, text=True, check=True, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "intake_floor"
    assert line["agree"] is True and line["failures"] == 0
    assert line["report_per_s"] > 0 and line["healthz_per_s"] > 0
    assert line["app_cpu_ms"] > 0 and line["pg_cpu_ms"] > 0
