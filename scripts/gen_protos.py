"""Compile protos/ into clients/generated/ (messages, gRPC stubs, mypy-protobuf .pyi for both).

Every .proto under protos/ is compiled, except the vendored googleapis files under
protos/google/ (imports only: at run time they come from googleapis-common-protos).
The output is the `userservice` package of the userservice-client distribution (clients/).

`python scripts/gen_protos.py` rewrites clients/generated/; `--check` compiles into a scratch
directory and exits 1, listing the files that differ, when it has drifted from protos/.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED = ROOT / "clients" / "generated"
# Where the stubs lived before the client became its own distribution; a leftover is drift.
LEGACY = ROOT / "generated"
VENDORED = ("google",)
SHOWN = f"{GENERATED.relative_to(ROOT)}/"
# Package markers protoc does not write; py.typed makes the stubs visible to type checkers.
MARKERS = ("userservice/__init__.py", "userservice/v1/__init__.py", "userservice/py.typed")


def compile_into(out: Path) -> None:
    bin_dir = Path(sys.executable).parent
    well_known = resources.files("grpc_tools") / "_proto"
    sources = sorted(
        str(p.relative_to(PROTOS))
        for p in PROTOS.rglob("*.proto")
        if p.relative_to(PROTOS).parts[0] not in VENDORED
    )
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for marker in MARKERS:
        path = out / marker
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("" if marker.endswith("py.typed") else '"""Generated; do not edit."""\n')


def files_under(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help=f"fail if {SHOWN} has drifted")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        compile_into(out)
        if check:
            fresh, committed = files_under(out), files_under(GENERATED)
            drifted = sorted(
                (fresh ^ committed)
                | {f for f in fresh & committed if not filecmp.cmp(out / f, GENERATED / f, False)}
            )
            if LEGACY.exists():
                drifted.append(f"{LEGACY.relative_to(ROOT)}/ (moved to clients/generated/)")
            if drifted:
                print(f"{SHOWN} has drifted from protos/; run `make proto`:", file=sys.stderr)
                for name in drifted:
                    print(f"  {name}", file=sys.stderr)
                return 1
            print(f"{SHOWN} matches protos/")
            return 0
        shutil.rmtree(GENERATED, ignore_errors=True)
        shutil.copytree(out, GENERATED)
    if LEGACY.exists():
        shutil.rmtree(LEGACY)
        print(f"removed {LEGACY.relative_to(ROOT)}/ (the stubs now live in {SHOWN})")
    print(f"wrote {SHOWN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
