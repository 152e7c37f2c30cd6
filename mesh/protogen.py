"""Generates gen/ from proto/ (`gen`), or fails when gen/ is stale (`check`).

One command produces the code so nobody edits gen/ by hand: `make gen`.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
GEN_DIR = ROOT / "gen"
PACKAGE_INITS = ("exchange/__init__.py", "exchange/v1/__init__.py")
COMMENTED = Path("exchange/v1/commented.binpb")
"""A FileDescriptorSet of proto/ with source info (comments), beside the generated modules."""


def generate(out_dir: Path) -> None:
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    (out_dir / COMMENTED).parent.mkdir(parents=True, exist_ok=True)
    # protoc finds the mypy-protobuf plugins on PATH; they live beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        # The same files with their comments, which the generated modules leave out: what
        # server reflection serves, so a client's tools show each field's meaning.
        "--include_source_info",
        f"--descriptor_set_out={out_dir / COMMENTED}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for init in PACKAGE_INITS:
        (out_dir / init).write_text('"""Generated from proto/ by `make gen`; do not edit."""\n')


def differences(expected: Path, actual: Path) -> list[str]:
    """Relative paths that differ, are missing, or are extra between two generated trees."""
    wanted = {p.relative_to(expected) for p in expected.rglob("*") if p.is_file()}
    have = {
        p.relative_to(actual)
        for p in actual.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    changed = [
        str(rel)
        for rel in sorted(wanted & have)
        if not filecmp.cmp(expected / rel, actual / rel, shallow=False)
    ]
    return (
        changed
        + [f"missing {r}" for r in sorted(wanted - have)]
        + [f"extra {r}" for r in sorted(have - wanted)]
    )


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "gen"
    if command == "gen":
        if GEN_DIR.exists():
            shutil.rmtree(GEN_DIR)
        generate(GEN_DIR)
        print(f"generated {GEN_DIR}")
        return 0
    if command == "check":
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            stale = differences(Path(tmp), GEN_DIR)
        if stale:
            print("gen/ is stale; run `make gen`:\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print("gen/ matches proto/")
        return 0
    print("usage: python -m mesh.protogen gen|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
