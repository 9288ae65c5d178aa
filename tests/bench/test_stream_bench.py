"""Keeps the stream benchmark working: its quick mode must deliver every event exactly right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stream.py"


def test_quick_run_delivers_exactly_to_the_right_subscribers() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                         check=True, timeout=300)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "stream" and line["peer"] == "redis.pubsub"
    assert line["subscribers"] == 50 and line["events"] == 20
    assert line["correct"] == 1.0 and line["peer_correct"] == 1.0
    assert line["deliveries"] == line["expected_deliveries"] > 0
    assert 0 < line["p50_ms"] <= line["p99_ms"]
