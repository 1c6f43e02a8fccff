"""bench/ still runs: a smoke run with tiny call counts (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loadgen import h2load_path
from tests.support.backends import Backend

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
GENERATORS = [
    "python",
    pytest.param(
        "h2load",
        marks=pytest.mark.skipif(
            h2load_path() is None, reason="h2load is not installed (Debian: nghttp2-client)"
        ),
    ),
]


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_quick_benchmark_run_measures_every_path_and_writes_its_report(
    generator: str, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--embedded",
            "--generator",
            generator,
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    paths = [row["path"] for row in report["rows"]]
    assert paths[0] == "empty RPC (grpc.aio ceiling)"
    for expected in (
        "health Check",
        "ValidateToken, warm",
        "GetUser, authenticated, warm",
        "Login",
    ):
        assert expected in paths
    assert all(row["failed"] == 0 and row["calls"] > 0 for row in report["rows"])
    assert report["generator"] == generator
    assert not [n for n in report["notes"] if n.startswith("!")], report["notes"]
    assert "GetUser, authenticated, warm" in result.stdout


def test_a_tiny_growth_run_measures_every_listing_and_the_cache_miss(
    postgres_backend: Backend,
) -> None:
    # postgres_backend only proves PostgreSQL and Redis answer (or skips, or fails in CI);
    # bench.growth makes and drops its own database and key prefix.
    result = subprocess.run(
        [sys.executable, "-m", "bench.growth", "--small", "30", "--large", "90", "--samples", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    measured = {
        line.split("  ")[0].strip(): line.split()[-1]
        for line in result.stdout.splitlines()
        if line.startswith(("ListUsers", "GetUser"))
    }
    assert sorted(measured) == [
        "GetUser cache miss",
        "ListUsers deeper pages",
        "ListUsers email prefix",
        "ListUsers first page",
    ]
    assert all(float(ratio) > 0 for ratio in measured.values())
