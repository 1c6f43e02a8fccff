"""The README stays true: its configuration table and its table of error reasons follow the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from server.errors import Reason

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_configuration_table_is_the_one_settings_prints() -> None:
    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "settings_table.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    # The header row too: without it the table does not render as one.
    assert table.startswith("| setting | default | meaning |\n| --- | --- | --- |\n| `USERSERVICE_")
    assert table in README, "run scripts/settings_table.py and paste its output into README.md"


def test_the_error_reason_table_is_the_one_reasons_table_prints() -> None:
    table = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reasons_table.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert table.startswith("| code | reasons |")
    assert table in README, "run scripts/reasons_table.py and paste its output into README.md"


def test_the_readme_documents_every_reason_and_nothing_else() -> None:
    start = README.index("| code | reasons |")
    section = README[start : README.index("\n\n", start)]
    rows = section.splitlines()[2:]
    documented = {
        name
        for row in rows
        for name in re.findall(r"`([A-Z][A-Z_]+)`", row.split("|")[2])
        if not name.startswith("USERSERVICE_")  # a setting named in a note, not a reason
    }

    assert {"EMAIL_TAKEN", "TOKEN_REVOKED", "MALFORMED_REQUEST", "INTERNAL"} <= documented
    assert sorted(documented - set(Reason)) == [], "documented but not a Reason"
    assert sorted(set(Reason) - documented) == [], "a Reason the README does not list"
