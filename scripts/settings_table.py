"""Prints the README's configuration table from `Settings`, so the two cannot disagree."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.config import Settings

HEADER = ["| setting | default | meaning |", "| --- | --- | --- |"]


def rows() -> list[str]:
    lines = list(HEADER)
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, enum.Enum):
            default = default.value
        shown = "(unset)" if default is None else f"`{default}`"
        lines.append(f"| `USERSERVICE_{name.upper()}` | {shown} | {field.description} |")
    return lines


if __name__ == "__main__":
    print("\n".join(rows()))
