"""Compression pipelines on the real ONNX models, judged by onnx, onnxruntime and numpy.

For every real ONNX model of the fixtures, models/onnx/ (the external-data one included), and every
pipeline in PIPELINES, `modelpress convert MODEL OUT.onnx --passes P --report R.json` must
  - exit 0 and write OUT (and OUT.data when the input keeps its tensors externally),
  - pass onnx.checker whenever the original does,
  - load and run in onnxruntime on the same deterministic inputs as test_onnx_models.py, with
    every output finite where the original's is (output cosine similarity and max abs difference
    against the original are recorded; `linear(bits=8)` must keep cosine >= 0.999),
  - say the truth in its report: for each tensor row that is not skipped, the weight written back
    differs from the original exactly as the row claims (relative L2, sparsity, cosine, max abs
    error, SQNR recomputed with numpy); every skipped tensor, every integer tensor and every
    tensor the report does not mention is bit-identical; the totals add up.
Tensors are found by (graph path, name): initializers, Constant-node values and the same inside
If/Loop/Scan subgraphs (silero keeps its weights in both branches of an If, under the same names).
A determinism test runs pipelines twice (and once on one core) and compares bytes.
A table model x pipeline (ratio, output cosine, max abs diff, tensors compressed) is printed at the
end of the session.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import interop_helpers as H
import test_onnx_models as OM  # inputs and the cached original ORT runs (module import: no re-collection)

PIPELINES = [
    "linear(bits=8)",
    "linear(bits=8,granularity=tensor)",
    "linear(bits=4,granularity=block,block=32)",
    "kmeans(bits=4)",
    "kmeans(bits=4,granularity=channel)",
    "fp16",
    "bf16",
    "prune(sparsity=0.5)",
    "prune(sparsity=0.5,scope=global)",
    "prune(sigma=1)",
    "prune_channels(sparsity=0.25)",
    "clip(percentile=99.9)",
    "ternary",
    "binary",
    "auto(max_error=0.02)",
    "prune(sparsity=0.3),kmeans(bits=5),huffman",
]

# linear(bits=8) (per output channel) must keep the output cosine >= 0.999 on every model
# (measured on real models without retraining); the other pipelines' cosines are only reported. test_linear8_keeps_cosine asserts it.
LINEAR8 = "linear(bits=8)"
LINEAR8_MIN_COSINE = 0.999
# Models where the bound does not hold for a reason outside ModelPress (each xfail is strict: a
# pass is reported, so the entry must then go).
LINEAR8_KNOWN_BELOW = {
    "basic_pitch_nmp.onnx": (
        "cosine 0.998552 on the note output: an independent numpy symmetric per-channel int8 quantizer "
        "gives the same 0.998552; the model is this sensitive (its CQT kernels const_fold_opt__655/664 "
        "alone give 0.9991/0.9994, and storing the 5 weights as fp16 already gives 0.99961)"
    ),
}

# Report figures are recomputed from the written weights and must agree this closely.
REL_TOL = 1e-4
ABS_TOL = 1e-9

MODELS = [m for m in OM.MODELS if not m[0].startswith("samples")]
REPORT_SCHEMA_PATH = os.path.join(H.REPO_ROOT, "schemas", "compression-report.schema.json")
MODEL_IDS = [m[0] for m in MODELS]

DETERMINISM_MODEL = "magika_standard_v3_3.onnx"
DETERMINISM_PIPELINES = [
    "kmeans(bits=4,granularity=channel)",
    "auto(max_error=0.02)",
    "prune(sparsity=0.3),kmeans(bits=5),huffman",
]

_INTEGER_TYPES = {
    onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16, onnx.TensorProto.UINT16,
    onnx.TensorProto.INT32, onnx.TensorProto.UINT32, onnx.TensorProto.INT64, onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}


# --------------------------------------------------------------------------------------------
# Summary table (printed by a plugin registered from a session fixture: hooks in a test module
# are not called, and conftest.py belongs to the other interop tests)
# --------------------------------------------------------------------------------------------

_ROWS: dict[tuple[str, str], tuple] = {}  # (model, pipeline) -> row
_DETERMINISM: list[str] = []


class _SummaryPlugin:
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not _ROWS and not _DETERMINISM:
            return
        tr = terminalreporter
        tr.section("ModelPress compression on real ONNX models (convert --passes, run in onnxruntime)")
        header = ("model", "pipeline", "ratio", "out cosine", "max abs diff", "compressed", "rel L2 (report)",
                  "result")
        order = {p: i for i, p in enumerate(PIPELINES)}
        keys = sorted(_ROWS, key=lambda k: (MODEL_IDS.index(k[0]) if k[0] in MODEL_IDS else 99, order.get(k[1], 99)))
        rows = [header] + [tuple(str(x) for x in _ROWS[k]) for k in keys]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for i, r in enumerate(rows):
            tr.write_line("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
            if i == 0:
                tr.write_line("  ".join("-" * w for w in widths))
        tr.write_line("out cosine: the smallest cosine similarity over the model's float outputs (flattened), "
                      "written vs original; '-' when the model has no float output")
        for line in _DETERMINISM:
            tr.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _compress_summary(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("modelpress-compress-summary"):
        pm.register(_SummaryPlugin(), "modelpress-compress-summary")
    yield


# --------------------------------------------------------------------------------------------
# Tensors by (graph path, name)
# --------------------------------------------------------------------------------------------


def _attr_values(attr: onnx.AttributeProto):
    """Constant-node attributes that hold values without a TensorProto (value_float, ...)."""
    if attr.type == onnx.AttributeProto.FLOAT:
        return np.array(attr.f, dtype=np.float32)
    if attr.type == onnx.AttributeProto.FLOATS:
        return np.array(list(attr.floats), dtype=np.float32)
    if attr.type == onnx.AttributeProto.INT:
        return np.array(attr.i, dtype=np.int64)
    if attr.type == onnx.AttributeProto.INTS:
        return np.array(list(attr.ints), dtype=np.int64)
    return None


def tensor_index(model: onnx.ModelProto) -> dict[tuple[str, str], list]:
    """(location, name) -> [(TensorProto or None, numpy array)], in graph order.

    location is the graph path ('main', 'main/If_0.else_branch', ...) for initializers and
    '<graph path>/<node name or ?>.<attribute>' for tensors held by a node attribute, the way
    the report names them."""
    index: dict[tuple[str, str], list] = collections.defaultdict(list)

    def walk(graph: onnx.GraphProto, path: str) -> None:
        for t in graph.initializer:
            index[(path, t.name)].append((t, numpy_helper.to_array(t)))
        for node in graph.node:
            nn = node.name or "?"
            for attr in node.attribute:
                where = f"{path}/{nn}.{attr.name}"
                if attr.HasField("t"):
                    name = attr.t.name or (node.output[0] if node.output else "")
                    index[(where, name)].append((attr.t, numpy_helper.to_array(attr.t)))
                for i, t in enumerate(attr.tensors):
                    index[(f"{where}[{i}]", t.name)].append((t, numpy_helper.to_array(t)))
                if node.op_type == "Constant" and not attr.HasField("t"):
                    v = _attr_values(attr)
                    if v is not None:
                        index[(where, node.output[0] if node.output else "")].append((None, v))
                if attr.HasField("g"):
                    walk(attr.g, where)
                for i, g in enumerate(attr.graphs):
                    walk(g, f"{where}[{i}]")

    walk(model.graph, "main")
    return index


def _bit_identical(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _close(reported: float, actual: float) -> bool:
    if reported is None or actual is None:
        return reported is None and actual is None
    if math.isinf(reported) or math.isinf(actual):
        return reported == actual
    return abs(reported - actual) <= REL_TOL * max(abs(reported), abs(actual)) + ABS_TOL


def _rel_l2(o: np.ndarray, w: np.ndarray) -> float:
    n = float(np.linalg.norm(o))
    d = float(np.linalg.norm(w - o))
    if n == 0.0:
        return 0.0 if d == 0.0 else math.inf
    return d / n


def _cosine(o: np.ndarray, w: np.ndarray) -> float:
    no, nw = float(np.linalg.norm(o)), float(np.linalg.norm(w))
    if no == 0.0 and nw == 0.0:
        return 1.0
    if no == 0.0 or nw == 0.0:
        return 0.0
    return float(np.dot(o, w) / (no * nw))


def check_report(report: dict, original: onnx.ModelProto, written: onnx.ModelProto,
                 pipeline: str | None = None) -> list[str]:
    """Problems between what the report says and what the written model holds."""
    problems: list[str] = []
    oi, wi = tensor_index(original), tensor_index(written)
    if set(oi) != set(wi) or any(len(oi[k]) != len(wi[k]) for k in oi):
        only_o = sorted(set(oi) - set(wi))[:5]
        only_w = sorted(set(wi) - set(oi))[:5]
        problems.append(f"the written model holds other tensors than the original: only in original {only_o}, "
                        f"only in written {only_w}")
        return problems

    rows = report.get("tensors", [])
    by_name = collections.defaultdict(list)
    for k in oi:
        by_name[k[1]].append(k)
    seen: collections.Counter = collections.Counter()
    mentioned = set()
    err2 = ref2 = 0.0
    n_processed = processed_elements = 0
    sum_orig = sum_est = 0
    min_sqnr = math.inf
    g_kept_min, g_pruned_max, g_zeros = math.inf, 0.0, 0  # scope=global: one threshold for the model
    for row in rows:
        name, loc = row.get("name"), row.get("location")
        key = (loc, name)
        if key not in oi:
            cands = by_name.get(name, [])
            if len(cands) != 1:
                problems.append(f"report row {name!r} at {loc!r}: no such tensor in the model "
                                f"(by name: {len(cands)} candidates {cands[:3]})")
                continue
            key = cands[0]
        i = seen[key]
        seen[key] += 1
        if i >= len(oi[key]):
            problems.append(f"report row {name!r} at {loc!r}: more rows than tensors of that name and location")
            continue
        mentioned.add((key, i))
        (ot, o), (wt, w) = oi[key][i], wi[key][i]
        label = f"{name!r} ({loc})"
        sum_orig += row.get("originalBytes", 0)
        sum_est += row.get("estimatedBytes", 0)
        if list(row.get("shape", [])) != list(o.shape):
            problems.append(f"{label}: report shape {row.get('shape')} but the tensor is {list(o.shape)}")
        if row.get("elements") != o.size:
            problems.append(f"{label}: report elements {row.get('elements')} but the tensor has {o.size}")
        if row.get("skipped"):
            if not _bit_identical(o, w) or (ot is not None and wt is not None and ot.data_type != wt.data_type):
                problems.append(f"{label}: skipped ({row['skipped']}) but changed in the written model")
            continue
        # processed
        n_processed += 1
        processed_elements += o.size
        if ot is not None and wt is not None and ot.data_type != wt.data_type:
            problems.append(f"{label}: written as {onnx.TensorProto.DataType.Name(wt.data_type)}, "
                            f"original {onnx.TensorProto.DataType.Name(ot.data_type)} (weights must come back "
                            "dequantized in their own type)")
            continue
        if o.shape != w.shape:
            problems.append(f"{label}: written shape {list(w.shape)} != original {list(o.shape)}")
            continue
        if ot is not None and ot.data_type in _INTEGER_TYPES:
            problems.append(f"{label}: an integer tensor ({o.dtype}) was compressed")
        of, wf = o.astype(np.float64).ravel(), w.astype(np.float64).ravel()
        if np.all(np.isfinite(of)) and not np.all(np.isfinite(wf)):
            problems.append(f"{label}: the written weights hold {int(np.sum(~np.isfinite(wf)))} non-finite values")
            continue
        actual = {
            "relativeL2": _rel_l2(of, wf),
            "sparsity": float(np.mean(wf == 0.0)) if wf.size else 0.0,
            "cosine": _cosine(of, wf),
            "maxAbsError": float(np.max(np.abs(wf - of))) if wf.size else 0.0,
        }
        rl2 = actual["relativeL2"]
        actual["sqnrDB"] = math.inf if rl2 == 0 else -20.0 * math.log10(rl2)
        # totals.relativeL2 is documented (Report.swift) as weighted by elements over processed
        # tensors: sqrt(sum n_i rel_i^2 / sum n_i), not ||dW|| / ||W|| over all of them.
        err2 += rl2 * rl2 * o.size
        ref2 += o.size
        if "relativeL2" not in row:
            problems.append(f"{label}: processed but the report row has no relativeL2")
        if not row.get("steps"):
            problems.append(f"{label}: counted as processed, but no pass left a step (encoding "
                            f"{row.get('encoding')}, {'unchanged' if _bit_identical(o, w) else 'changed'}): "
                            "should it be skipped, with a reason?")
        if pipeline is not None:
            problems.extend(semantic_problems(pipeline, row, o, w))
            if pipeline == "prune(sparsity=0.5,scope=global)":
                kept, pruned = wf != 0, (wf == 0) & (of != 0)
                if kept.any():
                    g_kept_min = min(g_kept_min, float(np.abs(of[kept]).min()))
                if pruned.any():
                    g_pruned_max = max(g_pruned_max, float(np.abs(of[pruned]).max()))
                g_zeros += int(np.sum(wf == 0))
        for field in ("relativeL2", "sparsity", "cosine", "maxAbsError", "sqnrDB"):
            if field not in row:
                continue
            rep = row[field]
            if field == "sqnrDB" and rep is not None and not math.isinf(actual[field]):
                min_sqnr = min(min_sqnr, rep)
            if not _close(rep, actual[field]):
                problems.append(f"{label}: report {field} {rep!r} but the written weights give {actual[field]!r} "
                                f"({row.get('encoding')}, steps {[s.get('pass') for s in row.get('steps', [])]})")

    # rows for every tensor, and nothing unmentioned changed
    for key, lst in oi.items():
        for i, ((ot, o), (wt, w)) in enumerate(zip(lst, wi[key])):
            if (key, i) not in mentioned and not _bit_identical(o, w):
                problems.append(f"tensor {key[1]!r} ({key[0]}) is not in the report but changed in the written model")
            if ot is not None and ot.data_type in _INTEGER_TYPES and not _bit_identical(o, w):
                problems.append(f"integer tensor {key[1]!r} ({key[0]}, {o.dtype}) changed in the written model")
    n_index = sum(len(v) for v in oi.values() if v and v[0][0] is not None)
    if len(rows) != n_index:
        unmentioned = [f"{k[1]} ({k[0]})" for k, lst in oi.items() for i in range(len(lst))
                       if (k, i) not in mentioned and lst[i][0] is not None]
        problems.append(f"the report has {len(rows)} rows, the model {n_index} tensors; not in the report: "
                        f"{unmentioned[:5]}")

    if pipeline == "prune(sparsity=0.5,scope=global)" and processed_elements:
        if g_pruned_max > g_kept_min:
            problems.append(f"global pruning: a pruned |w| {g_pruned_max} is larger than a kept |w| {g_kept_min} "
                            "(not one threshold for the model)")
        if abs(g_zeros / processed_elements - 0.5) > 0.01 and g_zeros / processed_elements < 0.5:
            problems.append(f"global pruning: {g_zeros / processed_elements:.4f} of the weights are zero, want 0.5")

    totals = report.get("totals", {})
    want = {
        "tensors": len(rows),
        "processed": n_processed,
        "processedElements": processed_elements,
        "originalBytes": sum_orig,
        "estimatedBytes": sum_est,
    }
    for k, v in want.items():
        if totals.get(k) != v:
            problems.append(f"totals.{k} is {totals.get(k)!r}, the rows add up to {v!r}")
    if sum_est:
        if not _close(totals.get("ratio"), sum_orig / sum_est):
            problems.append(f"totals.ratio {totals.get('ratio')!r} != originalBytes/estimatedBytes {sum_orig / sum_est!r}")
    if n_processed and ref2 > 0:
        actual_total = math.sqrt(err2 / ref2)
        if "relativeL2" not in totals:
            problems.append("totals has no relativeL2 though tensors were compressed")
        elif not _close(totals["relativeL2"], actual_total):
            problems.append(f"totals.relativeL2 {totals['relativeL2']!r} but the written weights give "
                            f"{actual_total!r} (sqrt(sum n_i rel_i^2 / sum n_i) over compressed tensors)")
        if math.isfinite(min_sqnr) and "minSQNRdB" in totals and not _close(totals["minSQNRdB"], min_sqnr):
            problems.append(f"totals.minSQNRdB {totals['minSQNRdB']!r} != smallest row sqnrDB {min_sqnr!r}")
    return problems


# --------------------------------------------------------------------------------------------
# What each pipeline must have done to a weight (checked on the written values)
# --------------------------------------------------------------------------------------------

_AXIS = re.compile(r"\(axis (\d+)\)|on axis (\d+)")


def _axis(row: dict) -> int | None:
    """The channel (or block) axis the report names for this tensor, if any."""
    texts = [row.get("encoding", "")] + [s.get("detail", "") for s in row.get("steps", [])]
    for t in texts:
        m = _AXIS.search(t)
        if m:
            return int(m.group(1) or m.group(2))
    return None


def _groups(w: np.ndarray, axis: int | None) -> np.ndarray:
    """Rows = channels along axis (one row for the whole tensor when axis is None)."""
    if axis is None or w.ndim == 0:
        return w.reshape(1, -1)
    return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def _max_distinct(rows: np.ndarray) -> int:
    if rows.size == 0:
        return 0
    s = np.sort(rows, axis=1)
    return int((1 + np.sum(np.diff(s, axis=1) != 0, axis=1)).max())


def _block_max_distinct(w: np.ndarray, axis: int, block: int) -> int:
    rows = np.moveaxis(w, axis, -1).reshape(-1, w.shape[axis])
    return max(_max_distinct(rows[:, i:i + block]) for i in range(0, rows.shape[1], block))


def _entropy_bits(symbols: np.ndarray) -> float:
    """Order-0 entropy in bits per symbol."""
    if symbols.size == 0:
        return 0.0
    _, counts = np.unique(symbols, return_counts=True)
    prob = counts / symbols.size
    return float(-(prob * np.log2(prob)).sum())


def _check_entropy(p: list, label: str, row: dict, symbols: np.ndarray, what: str) -> None:
    if "entropyBits" in row:
        h = _entropy_bits(symbols)
        if abs(h - row["entropyBits"]) > 1e-3:
            p.append(f"{label}: report entropyBits {row['entropyBits']:.5f}, the {what} of the written weights give "
                     f"{h:.5f}")


def _bf16_round(o: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(o, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    return r.view(np.float32)


def semantic_problems(pipeline: str, row: dict, o: np.ndarray, w: np.ndarray) -> list[str]:
    """What the pipeline must have done to this one tensor (o original, w written)."""
    p: list[str] = []
    label = f"{row.get('name')!r} ({row.get('location')}, {row.get('encoding')})"
    of, wf = o.astype(np.float64), w.astype(np.float64)
    axis = _axis(row)
    enc = row.get("encoding", "")
    zeros_o, zeros_w = int(np.sum(of == 0)), int(np.sum(wf == 0))
    n = o.size

    if pipeline.startswith("linear(bits=8"):
        # symmetric min/max: one scale s = max|w| / 127 per channel (or tensor); every written value
        # is k * s with |k| <= 127, within half a step of the original (ties may round either way)
        if axis is None and "per tensor" not in enc:
            p.append(f"{label}: neither an axis nor 'per tensor' in the encoding")
        g_o, g_w = _groups(of, axis), _groups(wf, axis)
        s = np.abs(g_o).max(axis=1, keepdims=True) / 127.0
        s = np.where(s > 0, s, 1.0)
        k = g_w / s
        off_grid = float(np.max(np.abs(k - np.round(k)))) if n else 0.0
        err_steps = float(np.max(np.abs(g_w - g_o) / s)) if n else 0.0
        if off_grid > 1e-3 or float(np.max(np.abs(np.round(k)), initial=0)) > 127:
            p.append(f"{label}: written values are not on the int8 grid max|w|/127 of their "
                     f"{'channel' if axis is not None else 'tensor'} (off by up to {off_grid:.3g} of a step)")
        if err_steps > 0.5 + 1e-4:
            p.append(f"{label}: quantization error up to {err_steps:.4f} steps (half a step allowed)")
        _check_entropy(p, label, row, np.round(k).astype(np.int64).ravel(), "int8 codes")
    elif pipeline.startswith("linear(bits=4,granularity=block") and "per channel" in row.get("encoding", ""):
        # The input axis was not longer than a block, so the pass fell back to one scale per channel.
        if axis is None:
            p.append(f"{label}: per channel without an axis in the report")
        elif _max_distinct(_groups(wf, axis)) > 16:
            p.append(f"{label}: a channel holds more than 16 distinct values at 4 bits")
        if row.get("estimatedBytes", 0) > row.get("originalBytes", 0):
            p.append(f"{label}: 'compressed' to {row.get('estimatedBytes')} B, more than the original")
    elif pipeline.startswith("linear(bits=4,granularity=block") and "per tensor" in row.get("encoding", ""):
        # No known input axis (its consumer is unknown): one scale for the tensor, said in the diagnostics.
        if _max_distinct(_groups(wf, None)) > 16:
            p.append(f"{label}: more than 16 distinct values at 4 bits per tensor")
    elif pipeline.startswith("linear(bits=4,granularity=block"):
        if axis is None:
            p.append(f"{label}: no block axis in the report")
        else:
            d = _block_max_distinct(wf, axis, 32)
            if d > 16:
                p.append(f"{label}: a block of 32 holds {d} distinct values (4 bits allow 16)")
            if o.shape[axis] < 32:
                p.append(f"{label}: blocks of 32 along axis {axis}, which has only {o.shape[axis]} elements: "
                         f"blocks of {o.shape[axis]} cost {row.get('estimatedBytes')} B for {row.get('originalBytes')} B "
                         "of float32")
        if row.get("estimatedBytes", 0) > row.get("originalBytes", 0):
            p.append(f"{label}: 'compressed' to {row.get('estimatedBytes')} B, more than the original "
                     f"{row.get('originalBytes')} B")
    elif pipeline.startswith("kmeans(bits=4"):
        # per channel, unless the report says it fell back to one codebook per tensor
        per = axis if "granularity=channel" in pipeline and "per tensor" not in enc else None
        if "granularity=channel" in pipeline and axis is None and "per tensor" not in enc:
            p.append(f"{label}: no channel axis in the report")
        d = _max_distinct(_groups(wf, per))
        if d > 16:
            p.append(f"{label}: {d} distinct values per {'channel' if per is not None else 'tensor'} (16 allowed)")
        if per is None:
            _check_entropy(p, label, row, wf.ravel(), "codebook values")
    elif pipeline == "fp16":
        want = o.astype(np.float16).astype(o.dtype)
        if np.all(np.isfinite(want)) and not np.array_equal(w, want):
            p.append(f"{label}: written values are not the original rounded to float16 "
                     f"({int(np.sum(w != want))} differ)")
    elif pipeline == "bf16":
        want = _bf16_round(o)
        if not np.array_equal(w.astype(np.float32), want):
            trunc = (np.ascontiguousarray(o, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
            how = " (they are truncated, not rounded to nearest even)" if np.array_equal(w, trunc) else ""
            p.append(f"{label}: written values are not the original rounded to bfloat16 "
                     f"({int(np.sum(w.astype(np.float32) != want))} differ){how}")
    elif pipeline.startswith("prune(") and "kmeans" not in pipeline:
        kept = wf != 0
        if not np.array_equal(wf[kept], of[kept]):
            p.append(f"{label}: pruning changed {int(np.sum(wf[kept] != of[kept]))} kept values")
        pruned = (wf == 0) & (of != 0)
        if pipeline == "prune(sparsity=0.5)":
            want = max(zeros_o, int(math.floor(0.5 * n)))
            if not (want <= zeros_w <= max(zeros_o, int(math.ceil(0.5 * n)))):
                p.append(f"{label}: {zeros_w} zeros of {n}, want {want} (sparsity 0.5)")
            if pruned.any() and kept.any() and np.abs(of[pruned]).max() > np.abs(of[kept]).min():
                p.append(f"{label}: pruned a value larger than one it kept")
        if pipeline == "prune(sigma=1)" and n:
            # Han et al.: prune |w| < sigma * std of the layer (zeros included, so iterating converges). On a
            # heavy-tailed tensor the rule can prune most weights, but it must keep the ones above sigma * std
            # of the result, and never empty a tensor that had weights above it.
            std = float(np.std(wf.astype(np.float64)))
            survivors = np.abs(wf[wf != 0])
            if survivors.size and float(survivors.min()) < 0.999 * std:
                p.append(f"{label}: prune(sigma=1) kept {float(survivors.min()):.4g} below sigma*std = {std:.4g}")
            if zeros_w == n and zeros_o < n:
                p.append(f"{label}: prune(sigma=1) zeroed the whole tensor")
    elif pipeline.startswith("prune_channels"):
        g_o, g_w = _groups(of, axis), _groups(wf, axis)
        if axis is None:
            if not np.array_equal(of, wf):
                p.append(f"{label}: changed, but the report names no channel axis")
        else:
            zero_rows = np.all(g_w == 0, axis=1)
            same_rows = np.all(g_w == g_o, axis=1)
            if not np.all(zero_rows | same_rows):
                p.append(f"{label}: {int(np.sum(~(zero_rows | same_rows)))} channels neither zeroed nor kept as they were")
            newly = int(np.sum(zero_rows & ~np.all(g_o == 0, axis=1)))
            want = int(round(0.25 * g_o.shape[0]))
            if abs(newly - want) > 1:
                p.append(f"{label}: zeroed {newly} of {g_o.shape[0]} channels, want about {want}")
    elif pipeline.startswith("clip("):
        m = re.search(r"to ±([0-9.eE+-]+)", " ".join(s.get("detail", "") for s in row.get("steps", [])))
        if m:
            t = float(m.group(1))
            if np.abs(wf).max(initial=0) > t * (1 + 1e-6):
                p.append(f"{label}: |w| up to {np.abs(wf).max()} after clipping to {t}")
            inside = np.abs(of) <= t
            if not np.array_equal(wf[inside], of[inside]):
                p.append(f"{label}: clipping changed values inside ±{t}")
            if np.mean(~inside) > 0.002:
                p.append(f"{label}: {np.mean(~inside):.4%} of values beyond the 99.9th percentile")
        else:
            p.append(f"{label}: no clip threshold in the report steps")
    elif pipeline in ("ternary", "binary"):
        allowed = 3 if pipeline == "ternary" else 2
        g = _groups(wf, axis)
        d = _max_distinct(g)
        if d > allowed:
            p.append(f"{label}: {d} distinct values per channel ({allowed} allowed)")
        asym = [i for i, r in enumerate(g) if set(np.unique(np.abs(r[r != 0]))).__len__() > 1]
        if asym:
            p.append(f"{label}: channels {asym[:5]} hold values of different magnitude (not ±a)")
        if pipeline == "binary" and zeros_w > zeros_o and zeros_w != 0:
            frac = zeros_w / n
            if frac > 0.001:
                p.append(f"{label}: binary weights hold {zeros_w} zeros (sign(0) = 0?)")
    elif pipeline.startswith("auto(max_error="):
        budget = float(pipeline.split("=")[1].rstrip(")"))
        rl2 = _rel_l2(of.ravel(), wf.ravel())
        if rl2 > budget * (1 + 1e-6):
            p.append(f"{label}: relative L2 {rl2:.5f} over the budget {budget}")
    elif pipeline.startswith("prune(sparsity=0.3),kmeans(bits=5)"):
        if zeros_w < min(zeros_o, n) or zeros_w < int(math.floor(0.3 * n)) - 0:
            p.append(f"{label}: {zeros_w} zeros of {n} after prune(sparsity=0.3) + kmeans")
        d = _max_distinct(wf.reshape(1, -1))
        if d > 33:
            p.append(f"{label}: {d} distinct values (32 centroids + zero allowed)")
        _check_entropy(p, label, row, wf.ravel(), "codebook values")
    return p


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def _float_leaves(x) -> np.ndarray | None:
    """All floating values of one output (arrays, sequences, maps in key order) as float64, or
    None when it holds none."""
    parts = []

    def rec(v):
        if isinstance(v, dict):
            for k in sorted(v, key=repr):
                rec(v[k])
        elif isinstance(v, (list, tuple)):
            for e in v:
                rec(e)
        else:
            a = np.asarray(v)
            if a.dtype.kind == "f":
                parts.append(a.astype(np.float64).ravel())
            elif a.dtype.kind == "O" and a.size and isinstance(a.ravel()[0], float):
                parts.append(a.astype(np.float64).ravel())

    rec(x)
    return np.concatenate(parts) if parts else None


def compare_outputs(ref: list, out: list) -> tuple[float | None, float, list[str]]:
    """(smallest output cosine or None, max abs diff, problems)."""
    problems = []
    cosines = []
    for i, (r, o) in enumerate(zip(ref, out)):
        fr, fo = _float_leaves(r), _float_leaves(o)
        if fr is None:
            continue
        if fo is None or fr.shape != fo.shape:
            problems.append(f"output {i}: {None if fo is None else fo.shape} float values vs {fr.shape} in the original")
            continue
        if np.all(np.isfinite(fr)) and not np.all(np.isfinite(fo)):
            problems.append(f"output {i}: {int(np.sum(~np.isfinite(fo)))} non-finite values (the original's are finite)")
            cosines.append(float("nan"))
            continue
        cosines.append(_cosine(fr, fo))
    diff = H.max_abs_diff(list(ref), list(out))
    if len(ref) != len(out):
        problems.append(f"{len(out)} outputs, the original has {len(ref)}")
    cos = None
    if cosines:
        cos = float("nan") if any(math.isnan(c) for c in cosines) else min(cosines)
    return cos, diff, problems


_CHECKER: dict[str, tuple] = {}


def checker_verdict_cached(path: str) -> tuple:
    if path not in _CHECKER:
        _CHECKER[path] = H.checker_verdict(path)
    return _CHECKER[path]


_ORIGINALS: dict[str, onnx.ModelProto] = {}


def load_original(path: str) -> onnx.ModelProto:
    if path not in _ORIGINALS:
        _ORIGINALS[path] = onnx.load(path)
    return _ORIGINALS[path]


def _fmt(x, spec: str) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    return format(x, spec)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_models_present():
    assert len(MODELS) >= 10 and not MODELS[0][0].startswith("MISSING:"), f"models: {MODEL_IDS}"
    assert any(OM._has_external(p) for _, p in MODELS), "no external-data model among the real models"


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("model_id,path", MODELS, ids=MODEL_IDS)
def test_compress_pipeline(model_id, path, pipeline, modelpress, workdir):
    assert not model_id.startswith("MISSING:"), f"models folder not found: {path}"
    out = os.path.join(workdir, "out.onnx")
    rep_path = os.path.join(workdir, "report.json")
    res = modelpress("convert", path, out, "--passes", pipeline, "--report", rep_path)
    key = (model_id, pipeline)
    _ROWS[key] = (model_id, pipeline, "-", "-", "-", "-", "-", f"FAIL: exit {res.returncode}")
    if res.returncode != 0:
        pytest.fail(f"{model_id} {pipeline}: modelpress convert failed\n{res.describe()}", pytrace=False)
    assert os.path.isfile(out), f"exit 0 but no {out}\n{res.describe()}"
    assert os.path.isfile(rep_path), f"exit 0 but no report {rep_path}\n{res.describe()}"
    with open(rep_path) as f:
        report = json.load(f)

    problems: list[str] = []
    with open(REPORT_SCHEMA_PATH) as f:
        schema = json.load(f)
    for e in sorted(jsonschema.Draft202012Validator(schema).iter_errors(report), key=str)[:5]:
        problems.append(f"report does not follow {os.path.basename(REPORT_SCHEMA_PATH)}: "
                        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    totals = report.get("totals", {})

    # onnx.checker
    v_orig, _ = checker_verdict_cached(path)
    v_written, m_written = H.checker_verdict(out)
    if v_orig is None and v_written is not None:
        problems.append(f"onnx.checker: the original passes, the written model fails: {v_written} {m_written}")

    # the report against the written weights
    original = load_original(path)
    written = H.load_written(out, problems)
    if written is not None:
        problems.extend(check_report(report, original, written, pipeline))

    # onnxruntime on the same inputs
    so = H.session_options()
    feeds, r_orig = OM.original_outcome(path, so)
    r_written = H.ort_run(out, [feeds], so)
    cos, diff = None, math.inf
    if r_written.load_error is not None:
        problems.append(f"ORT cannot load the written model: {type(r_written.load_error).__name__}: "
                        f"{str(r_written.load_error)[:300]}")
    elif r_written.run_failed:
        problems.append(f"ORT cannot run the written model: {r_written.runs[0]}")
    else:
        ref, got = list(r_orig.runs[0]), list(r_written.runs[0])
        cos, diff, out_problems = compare_outputs(ref, got)
        problems.extend(out_problems)
        if totals.get("processed") == 0:
            d = H.bits_diff(ref, got, "outputs")
            if d and not r_orig.nondeterministic:
                problems.append(f"no tensor was compressed, yet the outputs differ: {d}")

    n_rows = totals.get("tensors", len(report.get("tensors", [])))
    _ROWS[key] = (
        model_id, pipeline, _fmt(totals.get("ratio"), ".3f"), _fmt(cos, ".6f"),
        _fmt(diff if math.isfinite(diff) else None, ".3g") if diff != math.inf else "inf",
        f"{totals.get('processed', '?')}/{n_rows}", _fmt(totals.get("relativeL2"), ".4f"),
        "ok" if not problems else f"FAIL ({len(problems)})",
    )
    if problems:
        pytest.fail(f"{model_id} {pipeline}:\n" + "\n".join(problems[:40])
                    + (f"\n... {len(problems) - 40} more" if len(problems) > 40 else ""), pytrace=False)


def _linear8_params():
    out = []
    for model_id, path in MODELS:
        marks = []
        if model_id in LINEAR8_KNOWN_BELOW:
            marks.append(pytest.mark.xfail(strict=True, reason=LINEAR8_KNOWN_BELOW[model_id]))
        out.append(pytest.param(model_id, path, marks=marks, id=model_id))
    return out


@pytest.mark.parametrize("model_id,path", _linear8_params())
def test_linear8_keeps_cosine(model_id, path, modelpress, workdir):
    """Per-channel 8-bit linear quantization keeps every float output's cosine >= 0.999."""
    assert not model_id.startswith("MISSING:"), f"models folder not found: {path}"
    out = os.path.join(workdir, "out.onnx")
    res = modelpress("convert", path, out, "--passes", LINEAR8, "-q")
    assert res.returncode == 0, res.describe()
    so = H.session_options()
    feeds, r_orig = OM.original_outcome(path, so)
    r_written = H.ort_run(out, [feeds], so)
    assert r_written.load_error is None and not r_written.run_failed, (r_written.load_error, r_written.runs)
    cos, _, problems = compare_outputs(list(r_orig.runs[0]), list(r_written.runs[0]))
    assert not problems, problems
    assert cos is None or cos >= LINEAR8_MIN_COSINE, f"{model_id}: output cosine {cos:.6f} < {LINEAR8_MIN_COSINE}"


@pytest.mark.parametrize("pipeline", DETERMINISM_PIPELINES)
def test_deterministic(pipeline, modelpress, workdir):
    """Two runs give the same bytes (model and report); one core gives the same model."""
    path = dict(MODELS).get(DETERMINISM_MODEL)
    assert path, f"{DETERMINISM_MODEL} not among {MODEL_IDS}"
    outs = []
    for i, extra in enumerate(([], [], ["--single-thread"])):
        out = os.path.join(workdir, f"out{i}.onnx")
        rep = os.path.join(workdir, f"report{i}.json")
        res = modelpress("convert", path, out, "--passes", pipeline, "--report", rep, *extra)
        assert res.returncode == 0, res.describe()
        with open(out, "rb") as f1, open(rep, "rb") as f2:
            outs.append((f1.read(), f2.read()))
    problems = []
    if outs[0][0] != outs[1][0]:
        problems.append("two runs wrote different model bytes")
    if outs[0][1] != outs[1][1]:
        problems.append("two runs wrote different report bytes")
    if outs[0][0] != outs[2][0]:
        problems.append("--single-thread wrote other model bytes than the default (every core)")
    if outs[0][1] != outs[2][1]:
        problems.append("--single-thread wrote another report than the default (every core)")
    _DETERMINISM.append(f"determinism {DETERMINISM_MODEL} {pipeline}: "
                        + ("2 runs + --single-thread byte-identical (model and report)" if not problems
                           else "; ".join(problems)))
    assert not problems, f"{pipeline} on {DETERMINISM_MODEL}: " + "; ".join(problems)


def test_tashkeel_quantized_untouched(modelpress, workdir):
    """An already int8/uint8-quantized model: by default no pass touches its integer tensors,
    and the report says why each was skipped."""
    path = dict(MODELS).get("tashkeel_rawi_int8.onnx")
    assert path, f"tashkeel_rawi_int8.onnx not among {MODEL_IDS}"
    original = load_original(path)
    oi = tensor_index(original)
    quantized = {k for k, lst in oi.items() for t, _ in lst
                 if t is not None and t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
    assert quantized, "tashkeel has no int8/uint8 tensors?"
    problems = []
    for pipeline in ("linear(bits=4,granularity=block,block=32)", "prune(sparsity=0.5),kmeans(bits=2)", "binary",
                     "auto(max_error=0.1)"):
        out = os.path.join(workdir, "out.onnx")
        rep = os.path.join(workdir, "report.json")
        res = modelpress("convert", path, out, "--passes", pipeline, "--report", rep)
        if res.returncode != 0:
            problems.append(f"{pipeline}: exit {res.returncode}: {res.stderr[-500:]}")
            continue
        wi = tensor_index(onnx.load(out))
        changed = [k[1] for k in quantized if not all(_bit_identical(a, b) for (_, a), (_, b) in zip(oi[k], wi[k]))]
        if changed:
            problems.append(f"{pipeline}: int8/uint8 tensors changed: {changed[:5]}")
        with open(rep) as f:
            report = json.load(f)
        for row in report["tensors"]:
            if row["dtype"] in ("int8", "uint8") and not row.get("skipped"):
                problems.append(f"{pipeline}: report row {row['name']!r} ({row['dtype']}) is not skipped")
        if report["totals"].get("processed") != 0:
            problems.append(f"{pipeline}: {report['totals'].get('processed')} tensors processed "
                            "(the float tensors of tashkeel are all small or quantization parameters)")
    assert not problems, "\n".join(problems)


def test_report_locations_resolve():
    """Sanity of this file's tensor index on silero: both If branches hold the same names."""
    path = dict(MODELS).get("silero_vad.onnx")
    assert path
    idx = tensor_index(load_original(path))
    names = collections.Counter(k[1] for k in idx)
    dup = [n for n, c in names.items() if c > 1 and re.search(r"weight", n)]
    assert dup, "expected silero weights under the same name in both If branches"
    locs = {k[0] for k in idx if k[1] in dup}
    assert any("then_branch" in loc for loc in locs) and any("else_branch" in loc for loc in locs), locs
