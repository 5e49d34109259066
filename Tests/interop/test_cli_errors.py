"""The CLI's error contract: bad input -> exit 1 with one stderr line naming the file; usage
errors -> exit 64."""

from __future__ import annotations

import os

import pytest


def _one_line_naming(stderr: str, name: str) -> str | None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if len(lines) != 1:
        return f"expected exactly one stderr line, got {len(lines)}: {stderr!r}"
    if name not in lines[0]:
        return f"stderr line does not name {name!r}: {lines[0]!r}"
    return None


@pytest.mark.parametrize(
    "args",
    # (bare `modelpress` is left out: printing help with exit 0 there is a fair choice)
    [["convert"], ["convert", "only-one.onnx"], ["no-such-command", "a.onnx", "b.onnx"],
     ["convert", "--no-such-flag", "a.onnx", "b.onnx"]],
    ids=["convert-no-files", "convert-one-file", "unknown-command", "unknown-flag"],
)
def test_usage_error_exits_64(modelpress, workdir, args):
    res = modelpress(*args, cwd=workdir)
    assert res.returncode == 64, res.describe()


def test_not_protobuf_exits_1(modelpress, workdir):
    bad = os.path.join(workdir, "garbage_input.onnx")
    with open(bad, "wb") as f:
        f.write(b"\x0f" * 64)  # field 1 with wire type 7: never valid protobuf
    res = modelpress("convert", bad, os.path.join(workdir, "out.onnx"))
    assert res.returncode == 1, res.describe()
    problem = _one_line_naming(res.stderr, "garbage_input.onnx")
    assert problem is None, problem + "\n" + res.describe()


def test_missing_input_exits_1(modelpress, workdir):
    missing = os.path.join(workdir, "does_not_exist.onnx")
    res = modelpress("convert", missing, os.path.join(workdir, "out.onnx"))
    assert res.returncode == 1, res.describe()
    problem = _one_line_naming(res.stderr, "does_not_exist.onnx")
    assert problem is None, problem + "\n" + res.describe()
