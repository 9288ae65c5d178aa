"""JSON text as the services store it: compact, keys sorted, Chinese kept as is (so equal
content gives equal text — idempotency hashes and history compare it)."""

from __future__ import annotations

import json
from typing import Any


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
