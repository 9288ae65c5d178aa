"""Keeps the fan-out benchmark working: its quick mode must fan a directive out to every grid,
deliver its event exactly once to every subscriber, and agree with the naive progress query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fanout.py"
PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="the fan-out benchmark runs on PostgreSQL")
def test_quick_run_fans_out_and_agrees() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--pg", str(PG_URL)],
                         capture_output=True, text=True, check=True, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "fanout" and line["database"] == "postgresql"
    assert line["agree"] is True
    assert line["grids"] == 4507 and line["subscribers"] == 50
    for key in ("fanout_ms", "naive_fanout_ms", "fanout_ratio", "progress_ms",
                "naive_progress_ms", "progress_ratio"):
        assert line[key] > 0, key
    assert 0 < line["delivery_p50_ms"] <= line["delivery_p99_ms"]
