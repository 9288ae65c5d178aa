"""Keeps the registry load benchmark working: its quick mode must store exactly what was
generated, by COPY and by the row-by-row peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "registry_load.py"
PG_URL = os.environ.get("WANGGE_TEST_DATABASE_URL")


@pytest.mark.skipif(not PG_URL, reason="the registry load benchmark runs on PostgreSQL")
def test_quick_run_agrees_with_the_database() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--pg", str(PG_URL)],
                         capture_output=True, text=True, check=True, timeout=600)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "registry_load" and line["scale"] == 0.01
    assert line["agree"] is True
    assert line["residents"] > 50_000 and line["households"] > 15_000 and line["places"] > 0
    assert line["load_s"] > 0 and line["naive_s_scaled"] > 0
    assert line["ratio"] == pytest.approx(line["naive_s_scaled"] / line["load_s"], rel=0.01)
