"""`modelpress convert --onnx-weights float|qdq|fp16` on the real ONNX models, judged by onnx and onnxruntime.

For every real ONNX model (fixtures) holding float weights of >= 1024 elements (the ones the passes compress by
default; the others are skipped) and both 8-bit linear pipelines, the float export (dequantized weights)
and the qdq export (int8/uint8 codes + DequantizeLinear) of the same quantization must
  - pass onnx.checker (full_check) whenever the original does,
  - run in onnxruntime on the same deterministic inputs as test_onnx_models.py with outputs that agree
    to float rounding (the weights DequantizeLinear computes are the float export's, bit for bit),
  - in the qdq file, hold every tensor the report says was linear-quantized as an int8/uint8 tensor
    feeding a DequantizeLinear, which produces the weight's own name; a weight ModelPress cannot store
    that way (per-channel DequantizeLinear on an opset-11 model) is explained by a note on stderr,
  - be at least 3x smaller (model file plus external data) when eligible weights dominate the file.
`--onnx-weights fp16` (no passes) must pass the checker, run with output cosine >= 0.999 against the
original, and roughly halve such files. A table of sizes and output differences is printed at the end.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import interop_helpers as H
import test_onnx_models as OM  # inputs and the cached original ORT runs

PIPELINES = ["linear(bits=8)", "linear(bits=8,granularity=tensor)"]
ELIGIBLE_MIN_ELEMENTS = 1024  # the passes' default minElements, and fp16 mode's threshold
DOMINATED = 0.8  # eligible weights are at least this share of the file: qdq must be >= 3x smaller
MIN_QDQ_RATIO = 3.0
MAX_FP16_SHARE = 0.6  # fp16 file / original file for dominated models ("about half")
FP16_MIN_COSINE = 0.999
QDQ_MIN_COSINE = 0.99999  # qdq vs float export: the same weights, only kernel rounding differs
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}

MODELS = [m for m in OM.MODELS if not m[0].startswith("samples")]
MODEL_IDS = [m[0] for m in MODELS]

_ROWS: list[tuple] = []


class _SummaryPlugin:
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not _ROWS:
            return
        tr = terminalreporter
        tr.section("ModelPress --onnx-weights on real ONNX models (bytes incl. external data)")
        header = ("model", "pipeline", "float bytes", "qdq/fp16 bytes", "ratio", "out cosine", "max abs diff", "vs")
        rows = [header] + [tuple(str(x) for x in r) for r in _ROWS]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for i, r in enumerate(rows):
            tr.write_line("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
            if i == 0:
                tr.write_line("  ".join("-" * w for w in widths))


@pytest.fixture(scope="session", autouse=True)
def _weights_summary(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("modelpress-onnx-weights-summary"):
        pm.register(_SummaryPlugin(), "modelpress-onnx-weights-summary")
    yield


# --------------------------------------------------------------------------------------------
# Model facts
# --------------------------------------------------------------------------------------------


def _graphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _weights(graph: onnx.GraphProto):
    """(graph, name, TensorProto) of initializers and Constant values, in every graph."""
    for g in _graphs(graph):
        for t in g.initializer:
            yield g, t.name, t
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                for attr in node.attribute:
                    if attr.name == "value" and attr.HasField("t"):
                        yield g, node.output[0], attr.t


def _elements(t: onnx.TensorProto) -> int:
    return int(np.prod(t.dims)) if t.dims else 1


def eligible_bytes(model: onnx.ModelProto) -> int:
    return sum(4 * _elements(t) for _, _, t in _weights(model.graph)
               if t.data_type == onnx.TensorProto.FLOAT and _elements(t) >= ELIGIBLE_MIN_ELEMENTS)


def file_bytes(path: str) -> int:
    """The model file plus the external-data files it references."""
    total = os.path.getsize(path)
    model = onnx.load(path, load_external_data=False)
    folder = os.path.dirname(path)
    for loc in {e.value for _, _, t in _weights(model.graph) for e in t.external_data if e.key == "location"}:
        total += os.path.getsize(os.path.join(folder, loc))
    return total


def default_opset(model: onnx.ModelProto) -> int | None:
    v = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(v) if v else None


_FACTS: dict[str, tuple] = {}


def facts(path: str) -> tuple[onnx.ModelProto, int, int, bool]:
    """(model, file bytes, eligible weight bytes, passes the checker) of an original, cached."""
    if path not in _FACTS:
        model = onnx.load(path)
        try:
            onnx.checker.check_model(path, full_check=True)
            ok = True
        except Exception:  # noqa: BLE001
            ok = False
        _FACTS[path] = (model, file_bytes(path), eligible_bytes(model), ok)
    return _FACTS[path]


def _need_eligible(path: str):
    _, _, eligible, _ = facts(path)
    if eligible == 0:
        pytest.skip("no float weights of >= 1024 elements: nothing for --onnx-weights to store differently")


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def _convert(modelpress, src: str, dst: str, *flags: str):
    res = modelpress("convert", src, dst, *flags)
    if res.returncode != 0:
        pytest.fail(f"modelpress convert failed\n{res.describe()}", pytrace=False)
    return res


def _checker_problems(path: str, original_ok: bool) -> list[str]:
    if not original_ok:
        return []
    try:
        onnx.checker.check_model(path, full_check=True)
        return []
    except Exception as e:  # noqa: BLE001
        return [f"onnx.checker(full_check) rejects {os.path.basename(path)}: {str(e).strip()[:300]}"]


def _float_outputs(outcome: H.OrtOutcome, label: str) -> list[np.ndarray]:
    if outcome.load_error is not None:
        pytest.fail(f"ORT cannot load the {label} export: {outcome.load_error}", pytrace=False)
    if outcome.run_failed:
        pytest.fail(f"ORT cannot run the {label} export: {outcome.runs[0]}", pytrace=False)
    return list(outcome.runs[0])


def _compare(ref: list, out: list) -> tuple[float, float]:
    """(smallest cosine over float outputs, max abs diff over all outputs)."""
    cosines = []
    for r, o in zip(ref, out):
        if isinstance(r, np.ndarray) and r.dtype.kind == "f":
            a, b = r.astype(np.float64).ravel(), np.asarray(o).astype(np.float64).ravel()
            na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
            cosines.append(1.0 if na == nb == 0 else (float(np.dot(a, b) / (na * nb)) if na and nb else 0.0))
    return (min(cosines) if cosines else 1.0), H.max_abs_diff(list(ref), list(out))


def _max_magnitude(outputs: list) -> float:
    m = [float(np.max(np.abs(o))) for o in outputs if isinstance(o, np.ndarray) and o.dtype.kind == "f" and o.size]
    return max(m) if m else 0.0


def dequantize_nodes(model: onnx.ModelProto) -> set[tuple]:
    return {(n.name, tuple(n.output)) for g in _graphs(model.graph) for n in g.node if n.op_type == "DequantizeLinear"}


def qdq_structure_problems(model: onnx.ModelProto, expected_new: int, before: set) -> tuple[list[str], int]:
    """Every DequantizeLinear added to the original's (`before`) reads int8/uint8 codes stored in its own graph,
    and there are `expected_new` of them; (problems, new DequantizeLinear count)."""
    problems, count = [], 0
    for g in _graphs(model.graph):
        stored = {name: t for gg, name, t in _weights(g) if gg is g}
        for node in g.node:
            if node.op_type != "DequantizeLinear" or (node.name, tuple(node.output)) in before:
                continue
            count += 1
            codes = stored.get(node.input[0])
            if codes is None:
                problems.append(f"DequantizeLinear {node.name}: input {node.input[0]!r} is not a tensor of its graph")
                continue
            if codes.data_type not in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
                problems.append(f"{node.input[0]!r} is {onnx.TensorProto.DataType.Name(codes.data_type)}, not int8/uint8")
            zp = stored.get(node.input[2]) if len(node.input) > 2 else None
            if zp is None or zp.data_type != codes.data_type:
                problems.append(f"DequantizeLinear {node.name}: zero point missing or not of the codes' type")
            scale = numpy_helper.to_array(stored[node.input[1]])
            axis = [a.i for a in node.attribute if a.name == "axis"]
            if scale.ndim == 1 and (not axis or codes.dims[axis[0]] != scale.size):
                problems.append(f"DequantizeLinear {node.name}: {scale.size} scales but axis {axis} of {list(codes.dims)}")
    if count != expected_new:
        problems.append(f"{count} new DequantizeLinear nodes, but {expected_new} linear-quantized tensors should have "
                        "one each")
    return problems, count


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_models_present():
    assert MODELS and not MODELS[0][0].startswith("MISSING:"), f"no real ONNX models: {MODELS}"
    assert any(facts(p)[2] for _, p in MODELS), "no real model has eligible float weights"


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("model_id,path", MODELS, ids=MODEL_IDS)
def test_qdq_matches_float_export(model_id, path, pipeline, modelpress, workdir):
    _need_eligible(path)
    original, original_bytes, eligible, original_ok = facts(path)
    float_out = os.path.join(workdir, "float.onnx")
    qdq_out = os.path.join(workdir, "qdq.onnx")
    report = os.path.join(workdir, "report.json")
    _convert(modelpress, path, float_out, "--passes", pipeline, "--onnx-weights", "float", "-q")
    res = _convert(modelpress, path, qdq_out, "--passes", pipeline, "--onnx-weights", "qdq", "--report", report)
    problems = _checker_problems(float_out, original_ok) + _checker_problems(qdq_out, original_ok)

    with open(report) as f:
        rows = json.load(f)["tensors"]
    quantized = [r for r in rows if not r.get("skipped") and str(r.get("encoding", "")).startswith("linear")]
    per_channel = [r for r in quantized if "per channel" in r.get("encoding", "")]
    notes = [line for line in res.stderr.splitlines() if line.startswith("modelpress: note: ")]
    opset = default_opset(original)
    # Per-channel DequantizeLinear needs opset 13: on older models those weights stay float, with a note each.
    expect_fallback = len(per_channel) if opset is not None and opset < 13 else 0
    if len(notes) != expect_fallback or not all("needs opset 13" in n for n in notes):
        problems.append(f"expected {expect_fallback} opset-13 notes, got {notes[:3]} ({len(notes)})")
    written = onnx.load(qdq_out)
    structure, n_dq = qdq_structure_problems(written, len(quantized) - expect_fallback, dequantize_nodes(original))
    problems += structure

    so = H.session_options()
    feeds, _ = OM.original_outcome(path, so)
    ref = _float_outputs(H.ort_run(float_out, [feeds], so), "float")
    got = _float_outputs(H.ort_run(qdq_out, [feeds], so), "qdq")
    cosine, diff = _compare(ref, got)
    if not (cosine >= QDQ_MIN_COSINE and diff <= 1e-4 * max(1.0, _max_magnitude(ref))):
        problems.append(f"qdq outputs differ from the float export's: cosine {cosine}, max abs diff {diff}")

    fb, qb = file_bytes(float_out), file_bytes(qdq_out)
    ratio = fb / qb
    _ROWS.append((model_id, pipeline + " qdq", fb, qb, f"{ratio:.2f}x", f"{cosine:.7f}", f"{diff:.3g}", "float export"))
    dominated = eligible >= DOMINATED * original_bytes
    if dominated and not expect_fallback and ratio < MIN_QDQ_RATIO:
        problems.append(f"qdq file {qb} bytes is only {ratio:.2f}x smaller than the float export ({fb} bytes)")
    if expect_fallback and n_dq == 0 and abs(qb - fb) > 0.01 * fb:
        problems.append(f"every weight fell back to float, yet the sizes differ: {qb} vs {fb}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("model_id,path", MODELS, ids=MODEL_IDS)
def test_fp16_weights(model_id, path, modelpress, workdir):
    _need_eligible(path)
    original, original_bytes, eligible, original_ok = facts(path)
    out = os.path.join(workdir, "fp16.onnx")
    _convert(modelpress, path, out, "--onnx-weights", "fp16", "-q")
    problems = _checker_problems(out, original_ok)
    written = onnx.load(out)
    left = [name for _, name, t in _weights(written.graph)
            if t.data_type == onnx.TensorProto.FLOAT and _elements(t) >= ELIGIBLE_MIN_ELEMENTS]
    halves = [name for _, name, t in _weights(written.graph) if t.data_type == onnx.TensorProto.FLOAT16]
    if left or not halves:
        problems.append(f"{len(left)} float32 weights of 1024+ elements left ({left[:3]}), {len(halves)} float16")

    so = H.session_options()
    feeds, r_orig = OM.original_outcome(path, so)
    got = _float_outputs(H.ort_run(out, [feeds], so), "fp16")
    cosine, diff = _compare(list(r_orig.runs[0]), got)
    if not cosine >= FP16_MIN_COSINE:
        problems.append(f"output cosine {cosine} < {FP16_MIN_COSINE} against the original")
    ob = file_bytes(out)
    _ROWS.append((model_id, "fp16 (no passes)", original_bytes, ob, f"{original_bytes / ob:.2f}x", f"{cosine:.7f}",
                  f"{diff:.3g}", "original"))
    if eligible >= DOMINATED * original_bytes and ob > MAX_FP16_SHARE * original_bytes:
        problems.append(f"fp16 file {ob} bytes is {ob / original_bytes:.2f} of the original's {original_bytes}")
    assert not problems, "\n".join(problems)
