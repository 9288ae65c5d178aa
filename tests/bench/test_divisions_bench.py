"""Keeps the divisions benchmark working: its quick mode must run and agree with its peer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "divisions.py"


def test_quick_run_agrees_and_reports_both_backends() -> None:
    env = dict(os.environ)
    pg = os.environ.get("WANGGE_TEST_DATABASE_URL")
    args = [sys.executable, str(BENCH), "--quick", "--pg", pg or ""]
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "divisions"
    assert line["agree"] is True
    assert line["rows"] == 4012
    assert line["sqlite_s"] > 0
    assert (line["postgresql_s"] is not None) == bool(pg)
