"""Helpers for the Keras interoperability tests (test_keras.py): HDF5 comparison with h5py and
h5diff, expectations computed from a Keras file, the Keras judge (keras_predict.py in the keras
venv), and the fake files for the error and warning tests.

Imports only h5py, numpy and the standard library (runs in the normal test venv).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
PREDICT_SCRIPT = os.path.join(HERE, "keras_predict.py")

# Groups holding optimizer state rather than model weights: `optimizer_weights` in legacy
# full-model HDF5 files (Keras 2 and Keras 3's model.save('x.h5')), `optimizer` in Keras 3's
# weights-only layout (`.weights.h5`, and model.weights.h5 inside a `.keras` zip).
LEGACY_OPTIMIZER_GROUP = "optimizer_weights"
V3_OPTIMIZER_GROUP = "optimizer"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def keras_python() -> str:
    return os.environ.get("MODELPRESS_KERAS_PYTHON") or os.path.join(REPO_ROOT, ".venv-keras", "bin", "python")


# ---------------------------------------------------------------------------------------------
# What kind of Keras file


def is_keras_zip(path: str) -> bool:
    return path.endswith(".keras") and zipfile.is_zipfile(path)


def _attr_str(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _attr_str(v[()])
    return str(v)


@dataclass
class KerasFileFacts:
    """What the file says about itself, read with h5py/json alone (the inspect expectations)."""

    kind: str  # "legacy-model", "legacy-weights", "v3-weights", "keras-zip"
    keras_version: str | None
    backend: str | None
    training_config: bool
    has_optimizer_weights: bool  # a legacy /optimizer_weights group
    optimizer_tensors: int
    optimizer_bytes: int
    weight_tensors: int
    weight_elements: int
    weight_bytes: int
    weight_dtypes: dict  # dtype name -> tensor count
    model_config: dict | None  # parsed model_config / config.json, None for weights-only
    layer_counts: dict = field(default_factory=dict)  # class_name -> count (see count_layers)


def _datasets(group: h5py.Group, skip_top: set[str]) -> list[tuple[str, h5py.Dataset]]:
    out = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/", 1)[0] not in skip_top:
            out.append((name, obj))

    group.visititems(visit)
    return out


def _dtype_name(dt: np.dtype) -> str:
    if dt.kind in ("S", "U", "O"):
        return "string"
    if dt.kind == "b":
        return "bool"
    return dt.name


def count_layers(config) -> dict:
    """Layers of a model config by class_name: every entry of `layers`, and for a nested model (an
    entry whose config has its own `layers`) the nested model itself plus its layers, recursively.
    Wrappers (Bidirectional, TimeDistributed) count once, as themselves. The outermost model is
    not counted. Old Sequential configs (a bare list of layers) are handled too."""
    counts: dict[str, int] = {}

    def layers_of(cfg):
        if isinstance(cfg, list):  # Keras 1/2.0 Sequential: config is the list of layers
            return cfg
        if isinstance(cfg, dict):
            inner = cfg.get("config", cfg)
            if isinstance(inner, list):
                return inner
            if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
                return inner["layers"]
        return []

    def walk(cfg):
        for layer in layers_of(cfg):
            name = layer.get("class_name", "?")
            counts[name] = counts.get(name, 0) + 1
            walk(layer)

    walk(config)
    return counts


def _h5_facts(f: h5py.File, kind_hint: str | None = None) -> KerasFileFacts:
    root_attrs = f.attrs
    if kind_hint:
        kind = kind_hint
    elif "model_weights" in f:
        kind = "legacy-model"
    elif "layer_names" in root_attrs:
        kind = "legacy-weights"
    else:
        kind = "v3-weights"
    if kind == "legacy-model":
        weights = _datasets(f["model_weights"], set())
        opt = _datasets(f[LEGACY_OPTIMIZER_GROUP], set()) if LEGACY_OPTIMIZER_GROUP in f else []
    elif kind == "legacy-weights":
        weights = _datasets(f, {LEGACY_OPTIMIZER_GROUP})
        opt = _datasets(f[LEGACY_OPTIMIZER_GROUP], set()) if LEGACY_OPTIMIZER_GROUP in f else []
    else:  # v3 weights layout (also inside .keras zips)
        weights = _datasets(f, {V3_OPTIMIZER_GROUP})
        opt = _datasets(f[V3_OPTIMIZER_GROUP], set()) if V3_OPTIMIZER_GROUP in f else []
    config = None
    if "model_config" in root_attrs:
        config = json.loads(_attr_str(root_attrs["model_config"]))
    dtypes: dict[str, int] = {}
    for _, d in weights:
        dtypes[_dtype_name(d.dtype)] = dtypes.get(_dtype_name(d.dtype), 0) + 1
    return KerasFileFacts(
        kind=kind,
        keras_version=_attr_str(root_attrs.get("keras_version")),
        backend=_attr_str(root_attrs.get("backend")),
        training_config="training_config" in root_attrs,
        has_optimizer_weights=LEGACY_OPTIMIZER_GROUP in f,
        optimizer_tensors=len(opt),
        optimizer_bytes=sum(int(d.id.get_storage_size()) if d.dtype.kind == "O" else int(d.nbytes) for _, d in opt),
        weight_tensors=len(weights),
        weight_elements=sum(int(d.size) for _, d in weights),
        weight_bytes=sum(int(d.nbytes) for _, d in weights),
        weight_dtypes=dtypes,
        model_config=config,
        layer_counts=count_layers(config) if config is not None else {},
    )


def file_facts(path: str) -> KerasFileFacts:
    if is_keras_zip(path):
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                facts = _h5_facts(f, "v3-weights")
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
        facts.kind = "keras-zip"
        facts.model_config = config
        facts.layer_counts = count_layers(config)
        facts.keras_version = meta.get("keras_version")
        facts.backend = None
        # As Keras 3 itself reads it (serialization_lib: `if compile_config:`): {} is no training config.
        facts.training_config = bool(config.get("compile_config"))
        return facts
    with h5py.File(path, "r") as f:
        return _h5_facts(f)


def keras_major(path: str) -> int:
    """Which Keras loads the file: the same rule as keras_predict.py (imported from it)."""
    sys.path.insert(0, HERE)
    try:
        import keras_predict
    finally:
        sys.path.pop(0)
    return keras_predict.keras_major_of(path)


# ---------------------------------------------------------------------------------------------
# HDF5 comparison


def _type_desc(tid) -> str:
    """Readable low-level HDF5 type, string kind included."""
    cls = tid.get_class()
    if cls == h5py.h5t.STRING:
        vlen = tid.is_variable_str()
        cset = {h5py.h5t.CSET_ASCII: "ascii", h5py.h5t.CSET_UTF8: "utf8"}.get(tid.get_cset(), tid.get_cset())
        pad = {h5py.h5t.STR_NULLTERM: "nullterm", h5py.h5t.STR_NULLPAD: "nullpad", h5py.h5t.STR_SPACEPAD: "spacepad"}.get(
            tid.get_strpad(), tid.get_strpad())
        return f"string({'vlen' if vlen else f'fixed {tid.get_size()}'}, {cset}, {pad})"
    try:
        return f"{tid.dtype} (class {cls}, size {tid.get_size()})"
    except (TypeError, ValueError):
        return f"class {cls}, size {tid.get_size()}"


def _space_desc(sid) -> str:
    t = sid.get_simple_extent_type()
    if t == h5py.h5s.SCALAR:
        return "scalar"
    if t == h5py.h5s.NULL:
        return "null"
    return f"simple {sid.shape} max {sid.get_simple_extent_dims(maxdims=True)}"


def _values_equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind == "O":
            return [_norm(x) for x in a.ravel().tolist()] == [_norm(x) for x in b.ravel().tolist()]
        return a.tobytes() == b.tobytes()
    if type(a) is not type(b):
        return False
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return a == b


def _norm(x):
    return (type(x).__name__, x)


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 120 else s[:117] + "..."


def _compare_attrs(a_obj, b_obj, where: str, problems: list[str]) -> None:
    an, bn = list(a_obj.attrs.keys()), list(b_obj.attrs.keys())
    if an != bn:
        problems.append(f"{where}: attribute names/order {an} != {bn}")
    for name in an:
        if name not in bn:
            continue
        try:
            ai, bi = a_obj.attrs.get_id(name), b_obj.attrs.get_id(name)
        except Exception as e:  # noqa: BLE001
            problems.append(f"{where}@{name}: cannot open attribute: {e}")
            continue
        at, bt = ai.get_type(), bi.get_type()
        if not at == bt or _type_desc(at) != _type_desc(bt):
            problems.append(f"{where}@{name}: attribute type {_type_desc(at)} != {_type_desc(bt)}")
        asp, bsp = _space_desc(ai.get_space()), _space_desc(bi.get_space())
        if asp != bsp:
            problems.append(f"{where}@{name}: attribute dataspace {asp} != {bsp}")
        try:
            av, bv = a_obj.attrs[name], b_obj.attrs[name]
        except Exception as e:  # noqa: BLE001
            problems.append(f"{where}@{name}: cannot read attribute: {e}")
            continue
        if not _values_equal(av, bv):
            problems.append(f"{where}@{name}: attribute value {_short(av)} ({type(av).__name__}) != "
                            f"{_short(bv)} ({type(bv).__name__})")


def _filters(plist) -> list:
    out = []
    for i in range(plist.get_nfilters()):
        code, flags, values, name = plist.get_filter(i)
        out.append((code, flags, tuple(values), name))
    return out


def _dcpl_desc(ds: h5py.Dataset) -> dict:
    pl = ds.id.get_create_plist()
    fill = ds.fillvalue
    return {
        "layout": pl.get_layout(),
        "chunks": ds.chunks,
        "compression": ds.compression,
        "compression_opts": ds.compression_opts,
        "shuffle": ds.shuffle,
        "fletcher32": ds.fletcher32,
        "scaleoffset": ds.scaleoffset,
        "filters": _filters(pl),
        "fillvalue": (np.asarray(fill).dtype.str, np.asarray(fill).tobytes()) if fill is not None else None,
        "fill_value_defined": pl.fill_value_defined(),
        "maxshape": ds.maxshape,
    }


def _creation_order_flags(obj) -> tuple:
    pl = obj.id.get_create_plist()
    link = pl.get_link_creation_order() if hasattr(pl, "get_link_creation_order") else None
    attr = pl.get_attr_creation_order() if hasattr(pl, "get_attr_creation_order") else None
    return link, attr


def _compare_dataset(a: h5py.Dataset, b: h5py.Dataset, where: str, problems: list[str]) -> None:
    at, bt = a.id.get_type(), b.id.get_type()
    if not at == bt or _type_desc(at) != _type_desc(bt) or a.dtype != b.dtype:
        problems.append(f"{where}: dataset type {_type_desc(at)} != {_type_desc(bt)}")
        return
    asp, bsp = _space_desc(a.id.get_space()), _space_desc(b.id.get_space())
    if asp != bsp:
        problems.append(f"{where}: dataspace {asp} != {bsp}")
        return
    da, db = _dcpl_desc(a), _dcpl_desc(b)
    if da != db:
        diffs = {k: (da[k], db[k]) for k in da if da[k] != db[k]}
        problems.append(f"{where}: storage properties differ: {diffs}")
    if a.id.get_space().get_simple_extent_type() == h5py.h5s.NULL:
        return
    va, vb = a[()], b[()]
    if not _values_equal(va if isinstance(va, np.ndarray) else np.asarray(va),
                         vb if isinstance(vb, np.ndarray) else np.asarray(vb)):
        if isinstance(va, np.ndarray) and isinstance(vb, np.ndarray) and va.shape == vb.shape and va.dtype.kind != "O":
            ra, rb = va.reshape(-1).view(np.uint8), vb.reshape(-1).view(np.uint8)
            first = int(np.flatnonzero(ra != rb)[0]) if ra.size == rb.size else -1
            problems.append(f"{where}: dataset bytes differ (first differing byte at offset {first} of {ra.size})")
        else:
            problems.append(f"{where}: dataset values differ: {_short(va)} != {_short(vb)}")


def compare_h5(a_path, b_path, exclude: tuple[str, ...] = (), limit: int = 30) -> list[str]:
    """Differences between two HDF5 files as h5py sees them (empty list = equal).

    Compared: every group's member names in h5py's iteration order and link kinds (hard, soft
    with its target, external), link/attribute creation-order tracking, every object's attribute
    names in iteration order with type (class, size, string kind vlen/fixed, charset, padding),
    dataspace and value, and every dataset's type, dataspace, storage properties (layout, chunks,
    filters: compression, shuffle, fletcher32, scaleoffset; fill value) and bytes. `exclude` are
    absolute paths (e.g. "/optimizer_weights") left out of both files. a_path/b_path may be file
    objects (BytesIO) too."""
    problems: list[str] = []
    excluded = {p.rstrip("/") or "/" for p in exclude}
    with h5py.File(a_path, "r") as fa, h5py.File(b_path, "r") as fb:

        def walk(ga: h5py.Group, gb: h5py.Group, path: str):
            if len(problems) >= limit:
                return
            _compare_attrs(ga, gb, path, problems)
            fa_, fb_ = _creation_order_flags(ga), _creation_order_flags(gb)
            if fa_ != fb_:
                problems.append(f"{path}: creation-order tracking (links, attributes) {fa_} != {fb_}")

            def child(p):
                return (path.rstrip("/") + "/" + p) if path != "/" else "/" + p

            na = [n for n in ga.keys() if child(n) not in excluded]
            nb = [n for n in gb.keys() if child(n) not in excluded]
            if na != nb:
                problems.append(f"{path}: members/order {na} != {nb}")
            for name in na:
                if name not in nb:
                    continue
                p = child(name)
                la, lb = ga.get(name, getlink=True), gb.get(name, getlink=True)
                if type(la) is not type(lb):
                    problems.append(f"{p}: link kind {type(la).__name__} != {type(lb).__name__}")
                    continue
                if isinstance(la, h5py.SoftLink):
                    if la.path != lb.path:
                        problems.append(f"{p}: soft link to {la.path} != {lb.path}")
                    continue
                if isinstance(la, h5py.ExternalLink):
                    if (la.filename, la.path) != (lb.filename, lb.path):
                        problems.append(f"{p}: external link {la.filename}:{la.path} != {lb.filename}:{lb.path}")
                    continue
                oa, ob = ga[name], gb[name]
                if type(oa) is not type(ob):
                    problems.append(f"{p}: object kind {type(oa).__name__} != {type(ob).__name__}")
                    continue
                if isinstance(oa, h5py.Group):
                    walk(oa, ob, p)
                elif isinstance(oa, h5py.Dataset):
                    _compare_attrs(oa, ob, p, problems)
                    _compare_dataset(oa, ob, p, problems)
                else:  # committed datatype
                    _compare_attrs(oa, ob, p, problems)
                    if not oa.id == ob.id:
                        problems.append(f"{p}: committed datatype differs")
                if len(problems) >= limit:
                    return

        walk(fa, fb, "/")
    if len(problems) >= limit:
        problems.append(f"(stopped after {limit} differences)")
    return problems


def h5diff(a_path: str, b_path: str, exclude: tuple[str, ...] = ()) -> str | None:
    """None when `h5diff -c A B` (with --exclude-path for each of exclude) finds no difference."""
    cmd = ["h5diff", "-c"]
    for p in exclude:
        cmd += ["--exclude-path", p]
    cmd += [a_path, b_path]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300)
    except FileNotFoundError:
        return "h5diff not found (apt-get install hdf5-tools; `make deps` does)"
    except subprocess.TimeoutExpired:
        return f"h5diff timed out: {' '.join(cmd)}"
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or out:
        return f"$ {' '.join(cmd)} -> exit {r.returncode}\n{out[-3000:]}"
    return None


def compare_keras_zips(a_path: str, b_path: str, tmp: str, exclude_h5: tuple[str, ...] = ()) -> list[str]:
    """Two `.keras` zips: same member names in the same order, config.json and metadata.json equal
    as JSON, model.weights.h5 equal by h5diff and compare_h5 (any other member byte-equal)."""
    problems: list[str] = []
    try:
        za, zb = zipfile.ZipFile(a_path), zipfile.ZipFile(b_path)
    except zipfile.BadZipFile as e:
        return [f"not a zip file: {e}"]
    with za, zb:
        na, nb = za.namelist(), zb.namelist()
        if na != nb:
            problems.append(f"zip members {na} != {nb}")
        for name in na:
            if name not in nb:
                continue
            ba, bb = za.read(name), zb.read(name)
            if name.endswith(".json"):
                try:
                    ja, jb = json.loads(ba), json.loads(bb)
                except ValueError as e:
                    problems.append(f"{name}: not JSON: {e}")
                    continue
                if ja != jb:
                    problems.append(f"{name}: JSON differs")
            elif name.endswith(".h5"):
                pa, pb = os.path.join(tmp, "zip-a-" + name), os.path.join(tmp, "zip-b-" + name)
                with open(pa, "wb") as f:
                    f.write(ba)
                with open(pb, "wb") as f:
                    f.write(bb)
                d = h5diff(pa, pb, exclude_h5)
                if d:
                    problems.append(f"{name}: {d}")
                problems += [f"{name}: {p}" for p in compare_h5(pa, pb, exclude_h5)]
            elif ba != bb:
                problems.append(f"{name}: bytes differ")
    return problems


# ---------------------------------------------------------------------------------------------
# The Keras judge: keras_predict.py in the keras venv


@dataclass
class Prediction:
    npz: str | None = None  # path of the written .npz
    error: str | None = None  # why there is none


class KerasJudge:
    """Runs keras_predict.py in the keras venv; jobs of one Keras share a process (--batch), and a
    process that dies without a verdict for some job has those jobs rerun one per process."""

    def __init__(self, python: str, work: str, timeout: float = 1800):
        self.python = python
        self.work = work
        self.timeout = timeout
        self.env = dict(os.environ)
        self.env.pop("KERAS_BACKEND", None)
        self.env.pop("TF_USE_LEGACY_KERAS", None)
        self.env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        # XLA executables compiled for one file are reused for the next (weights are not part of
        # them): halves the time of Keras 3 loads. Results are bit-identical with or without.
        self.env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(work, "jax-cache"))
        self.env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        self.env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
        self.env.setdefault("CUDA_VISIBLE_DEVICES", "")
        self.env.setdefault("JAX_PLATFORMS", "cpu")
        self.seconds = 0.0
        self._n = 0

    def check_available(self) -> str | None:
        if not (os.path.isfile(self.python) and os.access(self.python, os.X_OK)):
            return (f"Keras judge Python not found: {self.python} (run `make keras-deps` to create .venv-keras, "
                    "or set MODELPRESS_KERAS_PYTHON)")
        return None

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess | str:
        t0 = time.monotonic()
        try:
            r = subprocess.run([self.python, PREDICT_SCRIPT, *argv], capture_output=True, text=True, errors="replace",
                               timeout=self.timeout, env=self.env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"keras_predict timed out after {self.timeout}s: {argv}"
        except OSError as e:
            return f"cannot run {self.python}: {e}"
        finally:
            self.seconds += time.monotonic() - t0
        return r

    def predict_many(self, jobs: list[dict]) -> dict[str, Prediction]:
        """jobs: {"key", "model", "weights_into"?, "keras"?: 2|3}. Returns key -> Prediction."""
        results: dict[str, Prediction] = {}
        groups: dict[int, list[dict]] = {}
        for j in jobs:
            self._n += 1
            j = dict(j, out=os.path.join(self.work, f"pred-{self._n:04d}.npz"))
            try:
                major = j.get("keras") or keras_major(j.get("weights_into") or j["model"])
            except Exception as e:  # noqa: BLE001
                results[j["key"]] = Prediction(error=f"cannot tell which Keras loads {j['model']}: {e}")
                continue
            groups.setdefault(int(major), []).append(j)
        for major, group in sorted(groups.items()):
            batch = os.path.join(self.work, f"jobs-{self._n:04d}-k{major}.json")
            with open(batch, "w") as f:
                json.dump([{"model": j["model"], "out": j["out"], "weights_into": j.get("weights_into")}
                           for j in group], f)
            self._run(["--batch", batch, "--keras", str(major)])  # verdicts are the files it leaves
            for j in group:
                res = self._collect(j)
                if res is None:  # no verdict: the batch died on or before this job; isolate it
                    single = self._run([j["model"], "--out", j["out"], "--keras", str(major)]
                                       + (["--weights-into", j["weights_into"]] if j.get("weights_into") else []))
                    res = self._collect(j)
                    if res is None:
                        why = single if isinstance(single, str) else (
                            f"exit {single.returncode}; stderr: {single.stderr.strip()[-500:] or '(empty)'}")
                        res = Prediction(error=f"keras_predict gave no result for {j['model']}: {why}")
                results[j["key"]] = res
        return results

    @staticmethod
    def _collect(j) -> Prediction | None:
        if os.path.exists(j["out"]):
            return Prediction(npz=j["out"])
        if os.path.exists(j["out"] + ".err"):
            with open(j["out"] + ".err") as f:
                return Prediction(error=f.read().strip())
        return None


def load_prediction(npz: str) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    with np.load(npz, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        ins = [z[f"in_{i}"] for i in range(sum(1 for k in z.files if k.startswith("in_")))]
        outs = [z[f"out_{i}"] for i in range(sum(1 for k in z.files if k.startswith("out_")))]
    return ins, outs, meta


def arrays_diff(a: list[np.ndarray], b: list[np.ndarray], what: str) -> str | None:
    """None if both lists hold bit-identical arrays (NaN compared by position only)."""
    if len(a) != len(b):
        return f"{what}: {len(a)} arrays vs {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if x.dtype != y.dtype or x.shape != y.shape:
            return f"{what}[{i}]: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        if x.dtype.kind in "fc":
            nx, ny = np.isnan(x), np.isnan(y)
            if not np.array_equal(nx, ny):
                return f"{what}[{i}]: NaN positions differ"
            xs, ys = np.where(nx, 0, x), np.where(ny, 0, y)
            if xs.tobytes() != ys.tobytes():
                d = np.abs(xs.astype(np.float64) - ys.astype(np.float64))
                return f"{what}[{i}]: not bit-identical; max abs diff {d.max():.3g}, {int(np.count_nonzero(d))} of {d.size} differ"
        elif x.tobytes() != y.tobytes():
            return f"{what}[{i}]: values differ"
    return None


def digests_diff(a: list | None, b: list | None, what: str) -> str | None:
    """None if two keras_predict digest lists ([name, ..., sha256] rows) are equal, else the first
    difference."""
    a, b = a or [], b or []
    if len(a) != len(b):
        return f"{what}: {len(a)} entries vs {len(b)}"
    for x, y in zip(a, b):
        if x != y:
            return f"{what}: {x[0]!r} differs ({x[1:]} vs {y[1:]})" if x[0] == y[0] else \
                f"{what}: {x[0]!r} vs {y[0]!r}"
    return None


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float | None:
    try:
        return max((float(np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0)
                   for x, y in zip(a, b)) if a else 0.0
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# Crafted files for the warning and error tests (made with h5py from copies of fixture files)


def copy_to(src: str, folder: str, name: str | None = None) -> str:
    dst = os.path.join(folder, name or os.path.basename(src))
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    return dst


def _set_config(path: str, mutate) -> None:
    with h5py.File(path, "r+") as f:
        cfg = json.loads(_attr_str(f.attrs["model_config"]))
        mutate(cfg)
        f.attrs["model_config"] = json.dumps(cfg)  # h5py writes a vlen UTF-8 string, as Keras does


def _layers(cfg) -> list:
    inner = cfg["config"]
    return inner if isinstance(inner, list) else inner["layers"]


# base64 of marshal.dumps((lambda x: x).__code__) (CPython 3.11), as Keras stores a Lambda's function.
_LAMBDA_CODE = "4wEAAAAAAAAAAAAAAAEAAAADAAAA8wYAAACXAHwAUwApAU6pACkB2gF4cwEAAAAg+gg8c3RyaW5nPvoIPGxhbWJkYT5yBQAAAAEAAABzBgAAAIAAwHGAAPMAAAAA"


def make_lambda_model(src: str, folder: str) -> str:
    """A copy of src whose model_config turns its first weightless non-input layer into a Lambda,
    in the config shape of the Keras that wrote src (both carry marshalled Python bytecode)."""
    dst = copy_to(src, folder, "with_lambda.h5")
    with h5py.File(dst, "r") as f:
        v3 = (_attr_str(f.attrs.get("keras_version")) or "").startswith("3")

    def mutate(cfg):
        for layer in _layers(cfg):
            if layer["class_name"] in ("MaxPooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D", "Dropout",
                                       "Activation", "Flatten"):
                name = layer["config"]["name"]
                layer["class_name"] = "Lambda"
                if v3:
                    layer["module"] = "keras.layers"
                    layer["registered_name"] = None
                    function = {"class_name": "__lambda__",
                                "config": {"code": _LAMBDA_CODE, "defaults": None, "closure": None}}
                else:
                    function = [_LAMBDA_CODE, None, None]
                layer["config"] = {"name": name, "trainable": True, "dtype": "float32", "function": function,
                                   "function_type": "lambda", "module": "__main__", "output_shape": None,
                                   "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}
                return
        raise AssertionError(f"{src}: no weightless layer to turn into a Lambda")

    _set_config(dst, mutate)
    return dst


CUSTOM_CLASS = "MyCustomLayer"


def make_custom_class_model(src: str, folder: str) -> str:
    """A copy of src whose model_config names a layer class Keras does not ship (module
    `my_package.layers`, registered name `my_package>MyCustomLayer`)."""
    dst = copy_to(src, folder, "with_custom_layer.h5")

    def mutate(cfg):
        for layer in _layers(cfg):
            if layer["class_name"] not in ("InputLayer",):
                layer["class_name"] = CUSTOM_CLASS
                layer["module"] = "my_package.layers"
                layer["registered_name"] = f"my_package>{CUSTOM_CLASS}"
                return
        raise AssertionError(f"{src}: no layer to rename")

    _set_config(dst, mutate)
    return dst


def make_truncated(src: str, folder: str, cut: int) -> str:
    dst = os.path.join(folder, f"truncated_at_{cut}.h5")
    with open(src, "rb") as f:
        data = f.read(cut)
    with open(dst, "wb") as f:
        f.write(data)
    return dst


# Superblock (version 0, as h5py writes by default) corruptions that h5py itself refuses to open.
SUPERBLOCK_CORRUPTIONS = {
    "signature": (0, b"\x00\x00\x00\x00"),  # "\x89HDF" gone: not found at 0, 512, 1024, ...
    "superblock-version": (8, b"\x07"),  # no such superblock version
    "offset-size": (13, b"\x03"),  # sizeof(offsets) 3: not a size HDF5 supports
    "root-object-header-address": (64, b"\xf0\xff\xff\xff\xff\xff\xff\x7f"),  # far beyond EOF
}


def make_corrupted_superblock(src: str, folder: str, what: str) -> str:
    offset, patch = SUPERBLOCK_CORRUPTIONS[what]
    dst = copy_to(src, folder, f"corrupt_{what}.h5")
    with open(dst, "r+b") as f:
        f.seek(0)
        if f.read(8) != b"\x89HDF\r\n\x1a\n":
            raise AssertionError(f"{src}: no HDF5 signature at offset 0")
        sb_version = f.read(1)
        if sb_version != b"\x00":
            raise AssertionError(f"{src}: superblock version {sb_version!r}, the corruptions assume 0")
        f.seek(offset)
        f.write(patch)
    return dst


def make_plain_hdf5(folder: str) -> str:
    dst = os.path.join(folder, "plain_data.h5")
    with h5py.File(dst, "w") as f:
        f.create_dataset("data", data=np.random.default_rng(7).standard_normal((16, 8)).astype(np.float32))
        f.attrs["description"] = "an HDF5 file that is not a Keras model"
    return dst


def _first_kernel(f: h5py.File, square_ok: bool = False) -> str:
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.startswith("model_weights/") and name.endswith(("kernel", "kernel:0")) \
                and obj.ndim == 2 and (square_ok or obj.shape[0] != obj.shape[1]):
            found.append(name)

    f.visititems(visit)
    if not found:
        raise AssertionError("no 2-D non-square kernel found")
    dense = [n for n in found if "/dense" in n]
    return (dense or found)[0]


def make_missing_weights(src: str, folder: str) -> tuple[str, str]:
    """A copy of src without the weight group of one layer that model_config and layer_names still
    name. Returns (path, layer name)."""
    dst = copy_to(src, folder, "missing_layer_weights.h5")
    with h5py.File(dst, "r+") as f:
        kernel = _first_kernel(f, square_ok=True)
        layer = kernel.split("/")[1]
        del f["model_weights"][layer]
    return dst, layer


def make_transposed_kernel(src: str, folder: str) -> tuple[str, str]:
    """A copy of src whose first non-square Dense kernel is replaced by its transpose (the dataset is
    recreated: same name and dtype, shape (out, in) instead of (in, out)). Returns (path, dataset)."""
    dst = copy_to(src, folder, "transposed_kernel.h5")
    with h5py.File(dst, "r+") as f:
        name = _first_kernel(f)
        data = f[name][()]
        attrs = dict(f[name].attrs)
        del f[name]
        ds = f.create_dataset(name, data=np.ascontiguousarray(data.T))
        for k, v in attrs.items():
            ds.attrs[k] = v
    return dst, name


def one_line_naming(stderr: str, name: str) -> str | None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if len(lines) != 1:
        return f"expected exactly one stderr line, got {len(lines)}: {stderr[-1500:]!r}"
    if name not in lines[0]:
        return f"stderr line does not name {name!r}: {lines[0]!r}"
    return None


def tmpdir_listing(folder: str) -> list[str]:
    return sorted(os.listdir(folder))

