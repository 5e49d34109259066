"""Shared helpers for the ModelPress ONNX interoperability tests.

Everything here judges a file written by ModelPress against the original with the real peers:
``onnx`` (message equality and ``onnx.checker``) and ``onnxruntime`` (bit-identical outputs).
The counters in ``STATS`` are printed by ``conftest.pytest_terminal_summary``.
"""

from __future__ import annotations

import collections
import difflib
import glob
import hashlib
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

# ORT prints every load failure to stderr as an error log; the tests report failures themselves.
ort.set_default_logger_severity(3)

ORT_PROVIDERS = ["CPUExecutionProvider"]

# The ONNX backend test runner's default tolerance (onnx/backend/test/loader).
EXPECTED_RTOL = 1e-3
EXPECTED_ATOL = 1e-7

# `--external-data` moves every tensor of at least this many bytes into the side file.
EXTERNAL_THRESHOLD = 1024


# --------------------------------------------------------------------------------------------
# Statistics shared with the terminal summary
# --------------------------------------------------------------------------------------------


@dataclass
class Stats:
    counters: collections.Counter = field(default_factory=collections.Counter)
    # model table rows: (model, mode, outputs, max_abs_diff, identical, note)
    model_rows: list = field(default_factory=list)
    # names of node tests per category worth listing in the summary
    lists: dict = field(default_factory=lambda: collections.defaultdict(list))

    def inc(self, key: str, n: int = 1) -> None:
        self.counters[key] += n


STATS = Stats()


# --------------------------------------------------------------------------------------------
# Loading test data (TensorProto / SequenceProto / OptionalProto / MapProto)
# --------------------------------------------------------------------------------------------


def load_value(path: str, type_proto: onnx.TypeProto | None) -> Any:
    """Load one input_K.pb / output_K.pb the way onnx's backend test runner does.

    The file holds a bare TensorProto, SequenceProto, OptionalProto or MapProto; which one is
    told by the declared type of the matching graph input/output (the .pb has no tag).
    """
    with open(path, "rb") as f:
        data = f.read()
    kind = type_proto.WhichOneof("value") if type_proto is not None else "tensor_type"
    if kind == "sequence_type":
        seq = onnx.SequenceProto()
        seq.ParseFromString(data)
        return numpy_helper.to_list(seq)
    if kind == "optional_type":
        opt = onnx.OptionalProto()
        opt.ParseFromString(data)
        return numpy_helper.to_optional(opt)
    if kind == "map_type":
        mp = onnx.MapProto()
        mp.ParseFromString(data)
        return numpy_helper.to_dict(mp)
    if kind == "sparse_tensor_type":
        raise NotImplementedError(f"{path}: sparse tensor test data is not supported")
    tensor = onnx.TensorProto()
    tensor.ParseFromString(data)
    return numpy_helper.to_array(tensor)


def real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers (the ones test data and callers feed)."""
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


@dataclass
class DataSet:
    name: str
    feeds: dict
    expected: list  # expected outputs (output_K.pb), for information only


def load_node_test_data(case_dir: str, model: onnx.ModelProto) -> list[DataSet]:
    inputs = real_inputs(model)
    outputs = list(model.graph.output)
    sets = []
    for ds in sorted(glob.glob(os.path.join(case_dir, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(ds, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(ds, "output_*.pb")))
        if n_in > len(inputs) or n_out > len(outputs):
            raise AssertionError(
                f"{ds}: {n_in} inputs/{n_out} outputs on disk but the model declares "
                f"{len(inputs)}/{len(outputs)}"
            )
        feeds = {
            inputs[i].name: load_value(os.path.join(ds, f"input_{i}.pb"), inputs[i].type)
            for i in range(n_in)
        }
        expected = [
            load_value(os.path.join(ds, f"output_{i}.pb"), outputs[i].type) for i in range(n_out)
        ]
        sets.append(DataSet(os.path.basename(ds), feeds, expected))
    return sets


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def _nan_mask(a: np.ndarray) -> np.ndarray | None:
    """NaN positions for floating dtypes (incl. ml_dtypes float8/bfloat16), else None."""
    if a.dtype.kind in "fc":
        return np.isnan(a)
    if a.dtype.kind == "V" or a.dtype.kind == "":
        return None
    try:
        if "float" in a.dtype.name:  # ml_dtypes: bfloat16, float8_*, float4_*
            return np.isnan(a.astype(np.float32))
    except (TypeError, ValueError):
        return None
    return None


def bits_diff(a: Any, b: Any, where: str = "output") -> str | None:
    """None if a and b are bit-identical, else a description of the first difference.

    Arrays: same dtype, same shape and the same bytes, except that NaNs are compared by position
    only (a NaN must face a NaN, payload bits may differ). Strings/objects compare by value and
    type. Lists/tuples (sequences), None (empty optionals) and dicts (maps) are compared
    recursively.
    """
    if a is None or b is None:
        if a is None and b is None:
            return None
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            return f"{where}: {type(a).__name__} vs {type(b).__name__}"
        if len(a) != len(b):
            return f"{where}: sequence length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = bits_diff(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return f"{where}: {type(a).__name__} vs {type(b).__name__}"
        ka = [(type(k).__name__, k) for k in a]
        kb = [(type(k).__name__, k) for k in b]
        if sorted(ka, key=repr) != sorted(kb, key=repr):
            return f"{where}: map keys differ: {sorted(ka, key=repr)[:5]} vs {sorted(kb, key=repr)[:5]}"
        for k in a:
            d = bits_diff(a[k], b[k], f"{where}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        if type(a) is not type(b) and not (
            isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        ):
            return f"{where}: {type(a).__name__} vs {type(b).__name__}"
        a = np.asarray(a)
        b = np.asarray(b)
        if a.dtype != b.dtype:
            return f"{where}: dtype {a.dtype} vs {b.dtype}"
        if a.shape != b.shape:
            return f"{where}: shape {a.shape} vs {b.shape}"
        if a.dtype == object:
            la, lb = a.ravel().tolist(), b.ravel().tolist()
            for i, (x, y) in enumerate(zip(la, lb)):
                if type(x) is not type(y) or x != y:
                    return f"{where}: element {i}: {x!r} vs {y!r}"
            return None
        ab = np.ascontiguousarray(a).tobytes()
        bb = np.ascontiguousarray(b).tobytes()
        if ab == bb:
            return None
        ma, mb = _nan_mask(a), _nan_mask(b)
        if ma is not None:
            if not np.array_equal(ma, mb):
                idx = np.argwhere(ma != mb)[0]
                return f"{where}: NaN at {tuple(int(i) for i in idx)} in only one of them"
            isz = a.dtype.itemsize
            ra = np.frombuffer(ab, np.uint8).reshape(-1, isz)[~ma.ravel()]
            rb = np.frombuffer(bb, np.uint8).reshape(-1, isz)[~mb.ravel()]
            if np.array_equal(ra, rb):
                return None  # only NaN payloads differ
        flat_a, flat_b = a.ravel(), b.ravel()
        isz = a.dtype.itemsize
        va = np.frombuffer(ab, np.uint8).reshape(-1, isz)
        vb = np.frombuffer(bb, np.uint8).reshape(-1, isz)
        bad = np.nonzero(np.any(va != vb, axis=1))[0]
        i = int(bad[0])
        return (
            f"{where}: {len(bad)} of {flat_a.size} elements differ in their bits; first at flat "
            f"index {i}: {flat_a[i]!r} vs {flat_b[i]!r}; max abs diff {max_abs_diff(a, b)}"
        )
    # plain Python scalars (e.g. values of ORT map outputs)
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return None
        return None if struct.pack("<d", a) == struct.pack("<d", b) else f"{where}: {a!r} vs {b!r}"
    return None if a == b else f"{where}: {a!r} vs {b!r}"


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest |a-b| over all numeric leaves (NaN vs NaN counts 0, NaN vs number counts inf)."""
    if a is None and b is None:
        return 0.0
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return max([max_abs_diff(x, y) for x, y in zip(a, b)], default=0.0)
    if isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b):
        return max([max_abs_diff(a[k], b[k]) for k in a], default=0.0)
    try:
        x = np.asarray(a)
        y = np.asarray(b)
        if x.shape != y.shape:
            return math.inf
        if x.dtype == object or y.dtype == object:
            return 0.0 if x.ravel().tolist() == y.ravel().tolist() else math.inf
        if x.dtype == np.bool_:
            x, y = x.astype(np.int8), y.astype(np.int8)
        xf = np.atleast_1d(x.astype(np.float64))
        yf = np.atleast_1d(y.astype(np.float64))
        if xf.size == 0:
            return 0.0
        both_nan = np.isnan(xf) & np.isnan(yf)
        d = np.abs(xf - yf)
        d[both_nan] = 0.0
        d[np.isnan(d)] = math.inf
        return float(d.max())
    except (TypeError, ValueError):
        return math.inf


def similar_to_expected(ref: Any, out: Any, rtol: float = EXPECTED_RTOL, atol: float = EXPECTED_ATOL) -> bool:
    """The backend test runner's assert_similar_outputs, as a boolean (information only)."""
    if ref is None or out is None:
        return ref is None and out is None
    if isinstance(ref, (list, tuple)) or isinstance(out, (list, tuple)):
        if not (isinstance(ref, (list, tuple)) and isinstance(out, (list, tuple))):
            return False
        return len(ref) == len(out) and all(similar_to_expected(r, o, rtol, atol) for r, o in zip(ref, out))
    if isinstance(ref, dict) or isinstance(out, dict):
        return (
            isinstance(ref, dict)
            and isinstance(out, dict)
            and set(ref) == set(out)
            and all(similar_to_expected(ref[k], out[k], rtol, atol) for k in ref)
        )
    try:
        r = np.asarray(ref)
        o = np.asarray(out)
        if r.shape != o.shape:
            return False
        if r.dtype == object or o.dtype == object:
            return r.ravel().tolist() == o.ravel().tolist()
        if r.dtype != o.dtype:
            return False
        if "bfloat16" in o.dtype.name:
            rtol = max(rtol, 2**-6)
        if o.dtype.kind not in "biufc":
            r, o = r.astype(np.float32), o.astype(np.float32)
        np.testing.assert_allclose(o, r, rtol=rtol, atol=atol)
        return True
    except (AssertionError, TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Model text diff
# --------------------------------------------------------------------------------------------

_PAYLOAD_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "raw_data",
    "double_data",
    "uint64_data",
)


def iter_graph_tensors(graph: onnx.GraphProto):
    """Every TensorProto of a graph and its subgraphs: initializers, sparse initializers'
    values/indices, and tensor attributes (Constant etc.)."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        yield from _iter_attr_tensors(node.attribute)


def _iter_attr_tensors(attributes):
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices
        for sp in attr.sparse_tensors:
            yield sp.values
            yield sp.indices
        if attr.HasField("g"):
            yield from iter_graph_tensors(attr.g)
        for g in attr.graphs:
            yield from iter_graph_tensors(g)


def iter_model_tensors(model: onnx.ModelProto, include_functions: bool = True):
    yield from iter_graph_tensors(model.graph)
    if include_functions:
        for fn in model.functions:
            for node in fn.node:
                yield from _iter_attr_tensors(node.attribute)


def _digest_payloads(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of the model with every large tensor payload replaced by a short digest marker, so
    its text form stays small but still shows which tensor's data (or encoding) differs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for t in iter_model_tensors(m):
        payload = onnx.TensorProto()
        for f in _PAYLOAD_FIELDS:
            if f == "raw_data":
                if t.HasField("raw_data"):
                    payload.raw_data = t.raw_data
            else:
                getattr(payload, f).extend(getattr(t, f))
        n = payload.ByteSize()
        if n > 128:
            h = hashlib.sha1(payload.SerializeToString(deterministic=True)).hexdigest()[:16]
            used = [f for f in _PAYLOAD_FIELDS if (t.HasField(f) if f == "raw_data" else len(getattr(t, f)))]
            for f in _PAYLOAD_FIELDS:
                t.ClearField(f)
            t.raw_data = f"<{'+'.join(used)}: {n} bytes, sha1 {h}>".encode()
    return m


def model_text_diff(original: onnx.ModelProto, written: onnx.ModelProto, limit: int = 50) -> str:
    ta = str(_digest_payloads(original)).splitlines()
    tb = str(_digest_payloads(written)).splitlines()
    diff = list(difflib.unified_diff(ta, tb, "original", "written", n=2, lineterm=""))
    if not diff:
        sa = original.SerializeToString(deterministic=True)
        sb = written.SerializeToString(deterministic=True)
        return (
            "(text forms are identical: the messages differ in something the text form does not "
            f"show, e.g. unknown fields; serialized sizes {len(sa)} vs {len(sb)})"
        )
    more = f"\n... ({len(diff) - limit} more diff lines)" if len(diff) > limit else ""
    return "\n".join(diff[:limit]) + more


def canonical_tensors(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy with every non-string tensor's payload re-encoded one canonical way (raw_data of the
    decoded values), so two models that differ only in how a tensor's values are stored
    (float_data vs raw_data, inline vs external) compare equal. External data must be loaded."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for t in iter_model_tensors(m):
        if t.data_type == onnx.TensorProto.STRING:
            continue
        values = numpy_helper.to_array(t)
        for f in _PAYLOAD_FIELDS:
            t.ClearField(f)
        t.ClearField("data_location")
        del t.external_data[:]
        t.raw_data = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()
    return m


# --------------------------------------------------------------------------------------------
# onnx.checker
# --------------------------------------------------------------------------------------------


def load_written(path: str, problems: list[str]) -> onnx.ModelProto | None:
    """onnx.load of a file ModelPress wrote, or None with the reason appended to `problems`."""
    try:
        return onnx.load(path)
    except Exception as e:  # noqa: BLE001
        problems.append(f"(a) onnx.load(written) fails: {type(e).__name__}: {e}")
        return None


def checker_verdict(path: str) -> tuple[str | None, str]:
    """(exception type name or None if it passes, message). Checks by path so that external
    data locations are checked too."""
    try:
        onnx.checker.check_model(path)
        return None, ""
    except Exception as e:  # noqa: BLE001 - the verdict is the exception type
        return type(e).__name__, str(e).strip().splitlines()[0][:300] if str(e).strip() else ""


# --------------------------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------------------------


def session_options() -> ort.SessionOptions:
    so = ort.SessionOptions()
    # One thread: deterministic reductions, and many tiny sessions run faster on 2 cores.
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return so


@dataclass
class OrtOutcome:
    load_error: BaseException | None = None
    # per data set: list of outputs, or the exception raised by run()
    runs: list = field(default_factory=list)
    nondeterministic: list = field(default_factory=list)  # data set indices

    @property
    def run_failed(self) -> bool:
        return any(isinstance(r, BaseException) for r in self.runs)


def ort_run(path: str, feeds_list: list[dict], so: ort.SessionOptions, repeat: bool = False) -> OrtOutcome:
    """Load `path` in ORT (CPU) and run every feed dict. With repeat=True each run is done
    twice and data sets whose two runs differ are listed as nondeterministic."""
    out = OrtOutcome()
    try:
        sess = ort.InferenceSession(path, so, providers=ORT_PROVIDERS)
    except Exception as e:  # noqa: BLE001
        out.load_error = e
        return out
    for i, feeds in enumerate(feeds_list):
        try:
            res = sess.run(None, feeds)
        except Exception as e:  # noqa: BLE001
            out.runs.append(e)
            continue
        out.runs.append(res)
        if repeat:
            try:
                again = sess.run(None, feeds)
            except Exception:  # noqa: BLE001
                again = None
            if again is None or bits_diff(res, again) is not None:
                out.nondeterministic.append(i)
    return out


def _exc_text(e: BaseException) -> str:
    s = str(e).strip().replace("\n", " ")
    return f"{type(e).__name__}: {s[:300]}"


def compare_ort(orig: OrtOutcome, written: OrtOutcome, labels: list[str] | None = None) -> list[str]:
    """Problems (empty list = same behaviour) between the original's and the written model's
    ORT outcome. Outputs must be bit-identical; failures must be of the same exception type."""
    problems = []
    if orig.load_error is not None:
        if written.load_error is None:
            problems.append(
                f"ORT: the original fails to load ({_exc_text(orig.load_error)}) but the written one loads"
            )
        elif type(written.load_error) is not type(orig.load_error):
            problems.append(
                "ORT: load fails differently: original "
                f"{_exc_text(orig.load_error)}; written {_exc_text(written.load_error)}"
            )
        return problems
    if written.load_error is not None:
        return [f"ORT: the original loads but the written one does not: {_exc_text(written.load_error)}"]
    for i, (ro, rw) in enumerate(zip(orig.runs, written.runs)):
        label = labels[i] if labels else f"data set {i}"
        if isinstance(ro, BaseException):
            if not isinstance(rw, BaseException):
                problems.append(f"ORT {label}: the original fails to run ({_exc_text(ro)}) but the written one runs")
            elif type(rw) is not type(ro):
                problems.append(f"ORT {label}: run fails differently: original {_exc_text(ro)}; written {_exc_text(rw)}")
            continue
        if isinstance(rw, BaseException):
            problems.append(f"ORT {label}: the original runs but the written one fails: {_exc_text(rw)}")
            continue
        if i in orig.nondeterministic:
            # The original does not even agree with itself: compare structure only.
            d = structure_diff(ro, rw)
        else:
            d = bits_diff(list(ro), list(rw), "outputs")
        if d:
            problems.append(f"ORT {label}: outputs not bit-identical: {d}")
    return problems


def structure_diff(a: Any, b: Any, where: str = "outputs") -> str | None:
    """Like bits_diff but only types/dtypes/shapes (for nondeterministic originals)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = structure_diff(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        return None
    return None if type(a) is type(b) else f"{where}: {type(a).__name__} vs {type(b).__name__}"


# --------------------------------------------------------------------------------------------
# External data layout
# --------------------------------------------------------------------------------------------

_FOUR_BIT = {
    onnx.TensorProto.INT4,
    onnx.TensorProto.UINT4,
    getattr(onnx.TensorProto, "FLOAT4E2M1", -1),
}


def tensor_nbytes(t: onnx.TensorProto) -> int | None:
    """Size of the tensor's data in its raw (external-data) encoding; None for strings."""
    if t.data_type == onnx.TensorProto.STRING:
        return None
    n = 1
    for d in t.dims:
        n *= d
    if t.data_type in _FOUR_BIT:
        return (n + 1) // 2
    itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    return n * itemsize


def external_info(t: onnx.TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in t.external_data}


def is_external(t: onnx.TensorProto) -> bool:
    return t.data_location == onnx.TensorProto.EXTERNAL


def external_layout_problems(model_path: str) -> list[str]:
    """Check every external reference of the model at model_path (loaded without its data):
    relative location, no '..', the side file `<model file name>.data` exists next to the
    model, and every (offset, length) lies inside it."""
    problems = []
    m = onnx.load(model_path, load_external_data=False)
    folder = os.path.dirname(os.path.abspath(model_path))
    side_name = os.path.basename(model_path) + ".data"
    for t in iter_model_tensors(m):
        if not is_external(t):
            if t.external_data:
                problems.append(f"tensor {t.name!r}: external_data entries but data_location is not EXTERNAL")
            continue
        info = external_info(t)
        loc = info.get("location", "")
        if not loc:
            problems.append(f"tensor {t.name!r}: external without a location")
            continue
        if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
            problems.append(f"tensor {t.name!r}: absolute location {loc!r}")
        if ".." in loc.replace("\\", "/").split("/"):
            problems.append(f"tensor {t.name!r}: location with '..': {loc!r}")
        if loc != side_name:
            problems.append(f"tensor {t.name!r}: location {loc!r}, expected the side file {side_name!r}")
        side = os.path.join(folder, loc)
        if not os.path.isfile(side):
            problems.append(f"tensor {t.name!r}: side file {side} does not exist")
            continue
        size = os.path.getsize(side)
        try:
            offset = int(info.get("offset", "0"))
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError:
            problems.append(f"tensor {t.name!r}: bad offset/length {info}")
            continue
        if offset < 0 or length < 0 or offset + length > size:
            problems.append(f"tensor {t.name!r}: offset {offset} + length {length} beyond side file size {size}")
        want = tensor_nbytes(t)
        if want is not None and length != want:
            problems.append(f"tensor {t.name!r}: external length {length}, but its dims/type need {want} bytes")
    return problems


def external_tensors(model_path: str) -> list[tuple[int, str]]:
    """(position in iter_model_tensors order, name) of every externally stored tensor."""
    m = onnx.load(model_path, load_external_data=False)
    return [(i, t.name) for i, t in enumerate(iter_model_tensors(m)) if is_external(t)]


# --------------------------------------------------------------------------------------------
# Locations (binary, fixtures)
# --------------------------------------------------------------------------------------------

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_MANIFEST = os.path.join(REPO_ROOT, "Tests", "fixtures", "models.tsv")


def binary_path() -> str:
    return os.environ.get("MODELPRESS_BIN") or os.path.join(REPO_ROOT, ".build", "debug", "modelpress")


def fixtures_path() -> str:
    """The fixture folder `make fixtures` fills: $MODELPRESS_FIXTURES, else <repo>/.fixtures."""
    return os.environ.get("MODELPRESS_FIXTURES") or os.path.join(REPO_ROOT, ".fixtures")


def fixture_manifest() -> list[dict[str, str]]:
    """The rows of Tests/fixtures/models.tsv (path, kind, origin, sha256, size); [] if unreadable."""
    try:
        with open(FIXTURE_MANIFEST, encoding="utf-8") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError:
        return []
    header = lines[0].split("\t") if lines else []
    return [dict(zip(header, ln.split("\t"))) for ln in lines[1:]]


def fixture_files(prefix: str, extensions: tuple[str, ...]) -> list[tuple[str, str]]:
    """(path relative to `prefix`, absolute path) of every manifest file under `prefix` (a folder of the
    fixture folder, e.g. models/onnx) ending in one of `extensions`, sorted. Built from the manifest, not
    from listing a folder: a missing file is a failing case naming it, never a shorter list. An unreadable
    manifest gives one `MISSING:` entry, so the tests fail instead of running on nothing."""
    rows = fixture_manifest()
    if not rows:
        return [(f"MISSING:{FIXTURE_MANIFEST}", FIXTURE_MANIFEST)]
    root = fixtures_path()
    prefix = prefix.rstrip("/") + "/"
    return sorted((r["path"][len(prefix):], os.path.join(root, r["path"]))
                  for r in rows if r["path"].startswith(prefix) and r["path"].endswith(extensions))


def missing_fixtures() -> list[str]:
    """Manifest files (node tests excepted: see node_test_count) not in the fixture folder."""
    rows = fixture_manifest()
    if not rows:
        return [f"{FIXTURE_MANIFEST} (unreadable)"]
    root = fixtures_path()
    return [os.path.join(root, r["path"]) for r in rows
            if r["kind"] != "node-tests" and not os.path.isfile(os.path.join(root, r["path"]))]


def node_test_count() -> int:
    """How many ONNX backend node tests the manifest says `make fixtures` writes (0 if it says none)."""
    return sum(int(r["size"]) for r in fixture_manifest() if r["kind"] == "node-tests")


def missing_message(paths: list[str]) -> str:
    shown = ", ".join(paths[:12]) + (", ..." if len(paths) > 12 else "")
    return f"{len(paths)} fixture(s) missing: {shown} (run `make fixtures`)"
