"""ONNX backend node tests round-tripped through ModelPress.

For every case of the ONNX backend node-test suite (<fixtures>/onnx-node-tests, written by `make fixtures`
from the pinned onnx's own test-case generators: the onnx wheel ships those, not the data):
`modelpress convert model.onnx written.onnx`, then
  (a) onnx.load(written) == onnx.load(original)            (protobuf message equality)
  (b) onnx.checker.check_model gives the same verdict      (both pass, or same exception type)
  (c) onnxruntime (CPU, same SessionOptions) behaves the same: if the original fails to load or
      run, the written one fails with the same exception type (counted as "ORT cannot run
      original"); otherwise every test_data_set gives bit-identical outputs.
Information only (never a pass criterion): byte-identical files, and ORT outputs of the original
matching the suite's output_K.pb within rtol=1e-3, atol=1e-7. All counts are printed at the end.
"""

from __future__ import annotations

import os

import onnx
import pytest

import interop_helpers as H

NODE_TESTS = "onnx-node-tests"
# The number of cases the pinned onnx (Tests/interop/requirements.txt) generates, as the fixture manifest
# Tests/fixtures/models.tsv records it (onnx 1.23.2: 1884).
EXPECTED_CASES = H.node_test_count()


def _cases() -> list[str]:
    root = os.path.join(H.fixtures_path(), NODE_TESTS)
    if not os.path.isdir(root):
        # One case that fails loudly instead of an empty (always green) parametrization.
        return [f"MISSING:{root}"]
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))


CASES = _cases()


def test_node_suite_present(fixtures_dir):
    root = os.path.join(fixtures_dir, NODE_TESTS)
    assert os.path.isdir(root), f"{root} is missing (run `make fixtures`)"
    found = [d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "model.onnx"))]
    assert EXPECTED_CASES > 0, f"{H.FIXTURE_MANIFEST} lists no node tests"
    assert len(found) == EXPECTED_CASES, (
        f"{len(found)} node tests in {root}, the fixture manifest says {EXPECTED_CASES} (run `make fixtures`)")


@pytest.mark.parametrize("case", CASES)
def test_node_roundtrip(case, fixtures_dir, convert, workdir):
    assert not case.startswith("MISSING:"), f"node-test folder not found: {case[8:]} (run `make fixtures`)"
    case_dir = os.path.join(fixtures_dir, NODE_TESTS, case)
    src = os.path.join(case_dir, "model.onnx")
    assert os.path.isfile(src), f"{src} is missing"
    stats = H.STATS
    stats.inc("node.total")

    out = os.path.join(workdir, "written.onnx")
    convert(src, out)
    stats.inc("node.converted")
    with open(src, "rb") as f1, open(out, "rb") as f2:
        if f1.read() == f2.read():
            stats.inc("node.byte_identical")

    problems: list[str] = []

    # (a) message equality
    original = onnx.load(src)
    stats.inc("node.a_checked")
    written = H.load_written(out, problems)
    if written is not None:
        if written == original:
            stats.inc("node.a_equal")
        else:
            problems.append("(a) onnx.load(written) != onnx.load(original):\n" + H.model_text_diff(original, written))

    # (b) checker verdict
    v_orig, m_orig = H.checker_verdict(src)
    v_written, m_written = H.checker_verdict(out)
    stats.inc("node.b_checked")
    if v_orig:
        stats.inc("node.checker_fails_original")
    if v_orig == v_written:
        stats.inc("node.b_same")
    else:
        problems.append(
            f"(b) onnx.checker verdict differs: original {v_orig or 'passes'} {m_orig}; "
            f"written {v_written or 'passes'} {m_written}"
        )

    # (c) onnxruntime
    data = H.load_node_test_data(case_dir, original)
    assert data, f"{case_dir} has no test_data_set_*"
    feeds = [d.feeds for d in data]
    so = H.session_options()  # the same options object for both sessions
    r_orig = H.ort_run(src, feeds, so, repeat=True)
    r_written = H.ort_run(out, feeds, so)
    ort_problems = H.compare_ort(r_orig, r_written, [d.name for d in data])
    if r_orig.load_error is not None or r_orig.run_failed:
        kind = "ort_load_fail" if r_orig.load_error is not None else "ort_run_fail"
        stats.inc("node." + kind)
        stats.lists[kind].append(case)
        if not ort_problems:
            stats.inc("node.ort_same_failure")
    else:
        stats.inc("node.ort_runnable")
        if not ort_problems:
            stats.inc("node.c_identical")
        if r_orig.nondeterministic:
            stats.inc("node.nondeterministic")
            stats.lists["nondeterministic"].append(case)
        if all(H.similar_to_expected(d.expected, list(res)) for d, res in zip(data, r_orig.runs)):
            stats.inc("node.expected_match")
        else:
            stats.lists["expected_mismatch"].append(case)
    problems.extend("(c) " + p for p in ort_problems)

    if problems:
        pytest.fail(f"{case}:\n" + "\n".join(problems), pytrace=False)
