"""JSON as gitkube prints it (``-o json``), for the command line and its quick answers."""

from __future__ import annotations

import json
from typing import Any


def json_text(data: Any) -> str:
    """``data`` indented, keys in their order, anything else JSON lacks as its str."""
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
