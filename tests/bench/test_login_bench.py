"""Keeps the log-in benchmark working: quick mode runs with the default argon2 profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "login.py"


def test_quick_run_measures_the_default_profile() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                         check=True, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "login" and line["agree"] is True
    assert (line["time_cost"], line["memory_cost_kib"], line["parallelism"]) == (2, 49152, 1)
    assert line["verify_ms"] > 10 and line["api_login_ms"] >= line["verify_ms"] * 0.8
