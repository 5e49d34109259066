"""The `.mpz` compressed format on the Keras files, judged by h5diff, h5py and the Keras that wrote them.

Files: every .h5 / .hdf5 / .keras of the fixtures' models/keras/ and models/keras-zoo/ (as
test_keras.py finds them). For each, `modelpress compress FILE -o X.mpz --preset P --json` for P in
lossless, balanced, small, then `modelpress decompress X.mpz -o OUT` (OUT with FILE's extension):
  - lossless: OUT equals FILE (`h5diff -c` clean and h5py's structural comparison; `.keras` zips
    member by member), and OUT predicts bit-identically in the Keras that wrote FILE (outputs,
    every weight as loaded, every layer's outputs).
  - balanced, small: OUT loads and predicts in the Keras that wrote FILE with the same variables
    (names, dtypes, shapes); outputs finite where the original's are; cosine and max abs diff
    against the original's predictions are recorded; balanced keeps cosine >= 0.999.
  - the JSON says sourceFormat keras, a container record (in the graph section), and mpz.fileBytes = the
    file size.
  - a Keras .mpz restored as .onnx (or a .keras one as .h5) fails: exit 1, one line, nothing written.
Weights-only files are loaded into the architecture of their full-model sibling (test_keras.WEIGHTS_INTO).
A table file x preset is printed at the end of the session.

Runs in the normal test venv; the Keras judges run keras_predict.py in the keras venv
(MODELPRESS_KERAS_PYTHON, default <repo>/.venv-keras/bin/python), as test_keras.py does.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

import keras_helpers as K
import test_keras as TK  # the file list, WEIGHTS_INTO, run_cli (module import: no re-collection)

PRESETS = ["lossless", "balanced", "small"]
BALANCED_MIN_COSINE = 0.999
FILES = TK.FILES
NAMES = TK.NAMES
PATHS = TK.PATHS


# --------------------------------------------------------------------------------------------
# Table


_ROWS: dict[tuple[str, str], tuple] = {}
_NOTES: list[str] = []


class _KerasMPZTable:
    def pytest_terminal_summary(self, terminalreporter):
        if not _ROWS:
            return
        tr = terminalreporter
        tr.section("ModelPress .mpz on Keras files (compress --preset, decompress, the Keras that wrote them)")
        header = ("file", "keras", "preset", "original B", ".mpz B", "ratio", "out cosine", "max abs diff", "result")
        order = {p: i for i, p in enumerate(PRESETS)}
        keys = sorted(_ROWS, key=lambda k: (NAMES.index(k[0]) if k[0] in NAMES else 99, order.get(k[1], 99)))
        rows = [header] + [tuple(str(x) for x in _ROWS[k]) for k in keys]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for i, r in enumerate(rows):
            tr.write_line("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
            if i == 0:
                tr.write_line("  ".join("-" * w for w in widths))
        tr.write_line("out cosine: smallest cosine over the model's outputs (flattened), decompressed vs original, "
                      "same inputs (keras_predict.py); lossless rows must be bit-identical")
        for n in _NOTES:
            tr.write_line(n)


@pytest.fixture(scope="module", autouse=True)
def _table(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("modelpress-keras-mpz-table"):
        pm.register(_KerasMPZTable(), "modelpress-keras-mpz-table")
    yield


# --------------------------------------------------------------------------------------------
# Compress + decompress every selected file with every preset, then judge all in Keras at once


@dataclass
class Trip:
    name: str
    path: str
    major: int | None = None
    arch: str | None = None
    mpz: dict = field(default_factory=dict)  # preset -> path
    compress: dict = field(default_factory=dict)  # preset -> TK.Cli
    json: dict = field(default_factory=dict)  # preset -> parsed --json
    out: dict = field(default_factory=dict)  # preset -> decompressed path
    decompress: dict = field(default_factory=dict)  # preset -> TK.Cli
    pred: dict = field(default_factory=dict)  # "orig" / preset -> K.Prediction
    error: str | None = None


def _selected(request) -> list[str]:
    me = sys.modules[__name__]
    wanted = set()
    for item in request.session.items:
        if getattr(item, "module", None) is me and "trips" in getattr(item, "fixturenames", ()):
            cs = getattr(item, "callspec", None)
            if cs is not None and "name" in cs.params:
                wanted.add(cs.params["name"])
    return [n for n in NAMES if n in wanted and not n.startswith("MISSING:")]


@pytest.fixture(scope="session")
def mpz_judge(tmp_path_factory) -> K.KerasJudge:
    return K.KerasJudge(K.keras_python(), str(tmp_path_factory.mktemp("keras-mpz-judge")))


@pytest.fixture(scope="session")
def trips(request, modelpress_bin, fixtures_dir, mpz_judge, tmp_path_factory) -> dict[str, Trip]:
    base = str(tmp_path_factory.mktemp("keras-mpz"))
    out: dict[str, Trip] = {}
    t0 = time.monotonic()
    for name in _selected(request):
        path = PATHS[name]
        t = Trip(name, path)
        if name in TK.WEIGHTS_INTO:
            t.arch = os.path.join(os.path.dirname(path), TK.WEIGHTS_INTO[name])
        try:
            t.major = K.keras_major(path)
        except Exception as e:  # noqa: BLE001
            t.error = f"cannot tell which Keras wrote {path}: {type(e).__name__}: {e}"
        for preset in PRESETS:
            folder = os.path.join(base, re.sub(r"[^A-Za-z0-9_.-]", "_", name), preset)
            os.makedirs(folder)
            t.mpz[preset] = os.path.join(folder, "model.mpz")
            r = TK.run_cli(modelpress_bin, "compress", path, "-o", t.mpz[preset], "--preset", preset, "--json")
            t.compress[preset] = r
            if r.returncode != 0 or not os.path.isfile(t.mpz[preset]):
                continue
            try:
                t.json[preset] = json.loads(r.stdout)
            except ValueError:
                pass
            t.out[preset] = os.path.join(folder, TK._out_name(name, "restored"))
            t.decompress[preset] = TK.run_cli(modelpress_bin, "decompress", t.mpz[preset], "-o", t.out[preset])
        out[name] = t
    cli_seconds = time.monotonic() - t0

    missing = mpz_judge.check_available()
    jobs = []
    for t in out.values():
        stages = [("orig", t.path)] + [(p, t.out[p]) for p in PRESETS if p in t.out and os.path.isfile(t.out[p])]
        for stage, model in stages:
            if missing or t.major is None:
                t.pred[stage] = K.Prediction(error=missing or t.error)
                continue
            jobs.append({"key": f"{t.name}|{stage}", "model": model, "weights_into": t.arch, "keras": t.major})
    for key, pred in mpz_judge.predict_many(jobs).items():
        name, stage = key.split("|", 1)
        out[name].pred[stage] = pred
    _NOTES.append(f"{len(out)} files x {len(PRESETS)} presets compressed and decompressed in {cli_seconds:.1f} s; "
                  f"keras_predict.py ran {mpz_judge.seconds:.1f} s")
    return out


def _trip(trips, name) -> Trip:
    assert not name.startswith("MISSING:"), f"fixture manifest not readable: {PATHS.get(name, name)}"
    return trips[name]


def _require(t: Trip, preset: str) -> None:
    c = t.compress.get(preset)
    if c is None or c.returncode != 0 or not os.path.isfile(t.mpz[preset]):
        pytest.fail(f"{t.name}: compress --preset {preset} failed\n{c.describe() if c else 'not run'}", pytrace=False)
    d = t.decompress.get(preset)
    if d is None or d.returncode != 0 or not os.path.isfile(t.out[preset]):
        pytest.fail(f"{t.name}: decompress ({preset}) failed\n{d.describe() if d else 'not run'}", pytrace=False)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _fmt(x, spec) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return format(x, spec)


def _row(t: Trip, preset: str, cos, diff, result: str) -> None:
    size = os.path.getsize(t.mpz[preset]) if os.path.isfile(t.mpz.get(preset, "")) else None
    orig = os.path.getsize(t.path)
    _ROWS[(t.name, preset)] = (t.name, t.major or "?", preset, orig, size if size is not None else "-",
                               f"{orig / size:.3f}" if size else "-", _fmt(cos, ".6f"), _fmt(diff, ".3g"), result)


def _judge(t: Trip, preset: str) -> tuple[list[str], float | None, float | None]:
    """(problems, min cosine, max abs diff) of the decompressed file's predictions vs the original's."""
    orig, got = t.pred.get("orig"), t.pred.get(preset)
    if orig is None or orig.error:
        return [f"the judge cannot run the ORIGINAL: {orig.error if orig else 'not run'}"], None, None
    if got is None or got.error:
        return [f"the decompressed file does not load or predict in Keras: {got.error if got else 'not run'}"], None, None
    ins_o, outs_o, meta_o = K.load_prediction(orig.npz)
    ins_w, outs_w, meta_w = K.load_prediction(got.npz)
    problems = []
    d = K.arrays_diff(ins_o, ins_w, "inputs")
    if d:
        problems.append(f"the model's input specs changed, so the generated inputs differ: {d}")
    wo = [w[:3] for w in meta_o.get("weights") or []]
    ww = [w[:3] for w in meta_w.get("weights") or []]
    if wo != ww:
        problems.append(f"Keras loads other variables (name, dtype, shape): {len(wo)} vs {len(ww)}; first differing "
                        f"{next(((a, b) for a, b in zip(wo, ww) if a != b), None)}")
    if len(outs_o) != len(outs_w):
        problems.append(f"{len(outs_w)} outputs, the original has {len(outs_o)}")
    cosines = []
    for i, (a, b) in enumerate(zip(outs_o, outs_w)):
        if a.shape != b.shape:
            problems.append(f"output {i}: shape {b.shape} vs {a.shape}")
            continue
        fa, fb = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
        if np.all(np.isfinite(fa)) and not np.all(np.isfinite(fb)):
            problems.append(f"output {i}: {int(np.sum(~np.isfinite(fb)))} non-finite values (the original's are finite)")
            cosines.append(float("nan"))
            continue
        cosines.append(_cosine(fa, fb))
    cos = None if not cosines else (float("nan") if any(math.isnan(c) for c in cosines) else min(cosines))
    diff = K.max_abs_diff(outs_o, outs_w)
    if preset == "lossless":
        for what, x in (("outputs", K.arrays_diff(outs_o, outs_w, "outputs")),
                        ("weights", K.digests_diff(meta_o.get("weights"), meta_w.get("weights"), "weights as loaded")),
                        ("layers", K.digests_diff(meta_o.get("layer_outputs"), meta_w.get("layer_outputs"),
                                                  "layer outputs"))):
            if x:
                problems.append(f"lossless: {x}")
        if not meta_o.get("deterministic"):
            problems.append("the original does not predict deterministically: cannot judge bit-identity")
    return problems, cos, diff


# --------------------------------------------------------------------------------------------
# Tests


def test_keras_files_present(fixtures_dir):
    missing = [n for n in NAMES if n.startswith("MISSING:")]
    assert not missing, f"fixture manifest not readable: {missing}"
    assert len(NAMES) >= 15, f"too few Keras files: {NAMES}"
    assert any(n.endswith(".keras") for n in NAMES) and any(n in TK.WEIGHTS_INTO for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_lossless_file_equal(name, trips, workdir):
    """lossless: the decompressed file equals the original (h5diff -c, h5py; zips member by member)."""
    t = _trip(trips, name)
    _require(t, "lossless")
    out = t.out["lossless"]
    if K.is_keras_zip(t.path):
        problems = K.compare_keras_zips(t.path, out, workdir)
    else:
        problems = []
        d = K.h5diff(t.path, out)
        if d:
            problems.append("h5diff: " + d)
        problems += ["h5py: " + p for p in K.compare_h5(t.path, out)]
    if problems:
        pytest.fail(f"{name}:\n" + "\n".join(problems[:30]), pytrace=False)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", NAMES)
def test_predicts(name, preset, trips):
    """The decompressed file loads and predicts in the Keras that wrote the original: bit-identically
    for lossless, cosine >= 0.999 for balanced, finite for small."""
    t = _trip(trips, name)
    _row(t, preset, None, None, "FAIL (CLI)")
    _require(t, preset)
    problems, cos, diff = _judge(t, preset)
    quantized = [x["name"] for x in (t.json.get(preset) or {}).get("mpz", {}).get("tensors", [])
                 if x["encoding"].startswith(("linear", "palette"))]
    if preset != "lossless" and quantized and not problems:
        _, _, meta_o = K.load_prediction(t.pred["orig"].npz)
        _, outs_w, meta_w = K.load_prediction(t.pred[preset].npz)
        if not K.digests_diff(meta_o.get("weights"), meta_w.get("weights"), "weights"):
            problems.append(f"{len(quantized)} tensors were quantized, yet Keras loads exactly the original weights "
                            "from the decompressed file")
        elif diff == 0:
            _NOTES.append(f"note: {name} {preset}: weights changed but the outputs are bit-identical (a randomly "
                          "initialised network saturates: its outputs cannot show the compression error)")
    if preset == "balanced" and cos is not None and not (cos >= BALANCED_MIN_COSINE):
        problems.append(f"balanced: output cosine {cos:.6f} < {BALANCED_MIN_COSINE} (max abs diff {diff:.3g})")
    _row(t, preset, cos, diff, "ok" if not problems else f"FAIL ({len(problems)})")
    if problems:
        pytest.fail(f"{name} {preset}:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("name", NAMES)
def test_json_describes_keras_mpz(name, trips):
    t = _trip(trips, name)
    problems = []
    for preset in PRESETS:
        _require(t, preset)
        d = t.json.get(preset)
        if d is None:
            problems.append(f"{preset}: compress --json printed no JSON")
            continue
        m = d.get("mpz", {})
        size = os.path.getsize(t.mpz[preset])
        if m.get("fileBytes") != size:
            problems.append(f"{preset}: mpz.fileBytes {m.get('fileBytes')} != file size {size}")
        if m.get("sourceFormat") != "keras" or d.get("input", {}).get("format") != "keras":
            problems.append(f"{preset}: sourceFormat {m.get('sourceFormat')!r}, input.format "
                            f"{d.get('input', {}).get('format')!r}")
        if not m.get("containerBytes") or m["containerBytes"] >= m.get("graphBytes", 0):
            problems.append(f"{preset}: container record {m.get('containerBytes')} B is not part of the "
                            f"graph section ({m.get('graphBytes')} B)")
        stored = sum(x["fileBytes"] for x in m.get("tensors", [])) + m.get("graphStoredBytes", 0)
        if stored > size:
            problems.append(f"{preset}: chunks + graph section {stored} B > file size {size}")
        if d.get("input", {}).get("bytes") != os.path.getsize(t.path):
            problems.append(f"{preset}: input.bytes {d.get('input', {}).get('bytes')} != {os.path.getsize(t.path)}")
        if preset != "lossless" and not any(x["encoding"].startswith(("linear", "palette")) for x in m.get("tensors", [])):
            _NOTES.append(f"note: {name} {preset}: no tensor quantized (all below 1024 elements or skipped)")
    assert not problems, f"{name}:\n" + "\n".join(problems)


WRONG_TARGETS = [("k3_conv1d_sequential.h5", "out.onnx"), ("k2_conv1d_sequential.h5", "out.onnx"),
                 ("k3_branching_functional.keras", "out.h5"), ("k3_branching_functional.h5", "out.keras")]


@pytest.mark.parametrize("source,target", WRONG_TARGETS, ids=[f"{s}-{t}" for s, t in WRONG_TARGETS])
def test_wrong_output_format_refused(source, target, modelpress, workdir):
    assert source in PATHS, f"{source} not among the real Keras files (fixtures)"
    mpz = os.path.join(workdir, "model.mpz")
    r = modelpress("compress", PATHS[source], "-o", mpz, "--preset", "balanced", "-q")
    assert r.returncode == 0, r.describe()
    out_dir = os.path.join(workdir, "out")
    os.makedirs(out_dir)
    r = modelpress("decompress", mpz, "-o", os.path.join(out_dir, target))
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, expected 1")
    p = K.one_line_naming(r.stderr, target)
    if p:
        problems.append(p)
    if os.listdir(out_dir):
        problems.append(f"written anyway: {os.listdir(out_dir)}")
    assert not problems, f"{source} -> {target}: " + "; ".join(problems) + "\n" + r.describe()
