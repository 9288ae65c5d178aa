"""Keeps the locate benchmark working: its quick mode must run and agree with geopandas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "locate.py"


def test_quick_run_agrees_with_geopandas() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                         check=True, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "locate" and line["peer"] == "geopandas.sjoin"
    assert line["agree"] is True
    assert line["points"] == 20_000 and line["grids"] > 100
    assert line["ours_per_s"] > 0 and line["peer_per_s"] > 0 and line["single_point_us"] > 0
