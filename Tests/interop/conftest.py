"""Fixtures and reporting for the ModelPress interoperability tests.

Run from the repo root:  .venv/bin/python -m pytest Tests/interop   (-v also lists the node
tests whose ORT output differs from the suite's expected output_K.pb)

Environment:
  MODELPRESS_BIN      the modelpress binary (default: <repo>/.build/debug/modelpress)
  MODELPRESS_FIXTURES the fixture folder `make fixtures` fills (default: <repo>/.fixtures)
  MODELPRESS_TIMEOUT  seconds allowed for one CLI call (default: 120)

A missing binary or fixture makes every test that needs it fail (never skip): a test that cannot fail
proves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest

import interop_helpers as H

_REPORT_KEY = pytest.StashKey[dict]()


@dataclass
class CliResult:
    args: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(map(str, self.args))}\n"
            f"exit {self.returncode} after {self.seconds:.2f}s\n"
            f"--- stdout ---\n{self.stdout[-2000:]}\n--- stderr ---\n{self.stderr[-2000:]}"
        )


def run_cli(binary: str, *args, timeout: float | None = None, cwd: str | None = None) -> CliResult:
    """Run the modelpress binary with args; capture stdout, stderr and the exit code."""
    if timeout is None:
        timeout = float(os.environ.get("MODELPRESS_TIMEOUT", "120"))
    cmd = [binary, *map(str, args)]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout, cwd=cwd,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"modelpress timed out after {timeout}s: {' '.join(cmd)}\nstdout: {out[-1000:]}\nstderr: {err[-1000:]}")
    return CliResult(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def modelpress_bin() -> str:
    path = H.binary_path()
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(
            f"modelpress binary not found or not executable: {path} "
            "(build it, or set MODELPRESS_BIN)", pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> str:
    """The fixture folder, with every file of Tests/fixtures/models.tsv in place."""
    path = H.fixtures_path()
    if not os.path.isdir(path):
        pytest.fail(f"fixture folder not found: {path} (run `make fixtures`, or set MODELPRESS_FIXTURES)",
                    pytrace=False)
    missing = H.missing_fixtures()
    if missing:
        pytest.fail(H.missing_message(missing), pytrace=False)
    return path


@pytest.fixture
def workdir(request, tmp_path_factory) -> str:
    """A fresh temp folder per test; deleted when the test passes, kept (and named in the
    failure report) when it fails."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    base = tmp_path_factory.getbasetemp()
    path = tempfile.mkdtemp(prefix=name + "-", dir=base)
    yield path
    reports = request.node.stash.get(_REPORT_KEY, {})
    if all(r.passed for r in reports.values()):
        shutil.rmtree(path, ignore_errors=True)
    else:
        request.node.add_report_section("teardown", "workdir", f"kept for inspection: {path}")


@pytest.fixture(scope="session")
def modelpress(modelpress_bin):
    """Callable running the CLI: modelpress("convert", src, dst, timeout=...) -> CliResult."""

    def run(*args, timeout: float | None = None, cwd: str | None = None) -> CliResult:
        return run_cli(modelpress_bin, *args, timeout=timeout, cwd=cwd)

    return run


@pytest.fixture(scope="session")
def convert(modelpress):
    """convert(src, dst, *flags): run `modelpress convert` and require exit 0 and an output."""

    def do(src: str, dst: str, *flags: str) -> CliResult:
        res = modelpress("convert", *flags, src, dst)
        if res.returncode != 0:
            pytest.fail(f"modelpress convert failed on {src}\n{res.describe()}", pytrace=False)
        if not os.path.isfile(dst):
            pytest.fail(f"modelpress convert exited 0 but wrote no {dst}\n{res.describe()}", pytrace=False)
        return res

    return do


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    item.stash.setdefault(_REPORT_KEY, {})[rep.when] = rep
    return rep


def _pct(n: int, d: int) -> str:
    return f"{n}/{d}" if d else f"{n}/0"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    c = H.STATS.counters
    tr = terminalreporter
    if c.get("node.total"):
        tr.section("ModelPress ONNX conformance (onnx-node-tests)")
        total = c["node.total"]
        runnable = c["node.ort_runnable"]
        cannot = c["node.ort_load_fail"] + c["node.ort_run_fail"]
        rows = [
            ("total cases", f"{total}"),
            ("converted (exit 0)", _pct(c["node.converted"], total)),
            ("(a) onnx.load(written) == onnx.load(original)", _pct(c["node.a_equal"], c["node.a_checked"])),
            ("(b) onnx.checker same verdict", _pct(c["node.b_same"], c["node.b_checked"])
             + f"   (original fails the checker: {c['node.checker_fails_original']})"),
            ("(c) ORT outputs bit-identical", _pct(c["node.c_identical"], runnable) + " of the cases ORT runs"),
            ("ORT cannot run original", f"{cannot}  (load failure {c['node.ort_load_fail']}, "
             f"run failure {c['node.ort_run_fail']}); written fails the same way: "
             f"{_pct(c['node.ort_same_failure'], cannot)}"),
            ("ORT original nondeterministic (shape/dtype compared)", f"{c['node.nondeterministic']}"),
            ("byte-identical files (info)", _pct(c["node.byte_identical"], c["node.converted"])),
            ("outputs matching expected (info, rtol=1e-3 atol=1e-7)", _pct(c["node.expected_match"], runnable)
             + " of the cases ORT runs"),
        ]
        width = max(len(r[0]) for r in rows)
        for k, v in rows:
            tr.write_line(f"{k:<{width}}  {v}")
        # Never hidden: name every case ORT cannot run (and, with -v, every expected mismatch).
        for key, label, always in (("ort_load_fail", "ORT load failures of the original", True),
                                   ("ort_run_fail", "ORT run failures of the original", True),
                                   ("nondeterministic", "ORT original nondeterministic", True),
                                   ("expected_mismatch", "ORT output differs from output_K.pb (info)", False)):
            names = H.STATS.lists.get(key)
            if names and (always or config.getoption("verbose") > 0):
                tr.write_line(f"{label} ({len(names)}): {', '.join(sorted(names))}")
    if H.STATS.model_rows:
        tr.section("ModelPress real ONNX models")
        header = ("model", "mode", "outputs", "max abs diff", "identical", "note")
        rows = [header] + [tuple(str(x) for x in r) for r in H.STATS.model_rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            tr.write_line("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
