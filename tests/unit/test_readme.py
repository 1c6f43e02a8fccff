"""The README stays true: its configuration table and its list of error reasons follow the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_configuration_table_is_the_one_settings_prints() -> None:
    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "settings_table.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert table
    assert table in README, "run scripts/settings_table.py and paste its output into README.md"


def test_every_error_reason_the_server_can_send_is_listed() -> None:
    pattern = re.compile(r'(?:reason=|default_reason = |rich_status\([^)]*?, )"([A-Z][A-Z_]+)"')
    reasons = set()
    for path in (ROOT / "server").rglob("*.py"):
        reasons.update(pattern.findall(path.read_text()))

    assert {"EMAIL_TAKEN", "TOKEN_REVOKED", "MALFORMED_REQUEST", "INTERNAL"} <= reasons
    missing = sorted(r for r in reasons if f"`{r}`" not in README)
    assert not missing, f"reasons missing from README.md: {missing}"
