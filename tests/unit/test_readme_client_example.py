"""The README's SDK example is the code in tests/typing/readme_example.py, and it type-checks.

The example's behaviour is tested in tests/integration/test_readme_service_example.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "typing" / "readme_example.py"
MARKER = "# --- README example ---\n"


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Client SDK and CLI")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_shows_the_example_file_verbatim() -> None:
    code = EXAMPLE.read_text().split(MARKER, 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.S)

    assert code in blocks


def test_the_readme_example_passes_mypy_strict(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join([str(ROOT / "clients" / "generated"), str(ROOT / "clients")]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            "pyproject.toml",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),  # its own: other mypy runs must not race on the cache
            "--no-color-output",
            str(EXAMPLE.relative_to(ROOT)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
