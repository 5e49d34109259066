"""Real ONNX models round-tripped through ModelPress.

Models: every real .onnx model of the fixtures, models/onnx/ (the external-data one included), and every
samples/*.onnx of the repo. For each, `modelpress convert IN OUT` must give
  (a) onnx.load(OUT) == onnx.load(IN)
  (b) the same onnx.checker verdict
  (c) bit-identical onnxruntime outputs on realistic inputs built deterministically (seeded RNG)
      from the model's declared inputs,
and tensors stored as external data in IN stay external in OUT, in the side file
`<OUT file name>.data` (relative location, no '..'). With `--external-data`, every tensor of
>= 1024 bytes must be external in OUT; the model must stay equal up to how tensor values are
encoded, pass the checker the same way and give bit-identical ORT outputs, also after moving OUT
and its side file to another folder. A table of max abs diffs is printed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import zlib

import numpy as np
import onnx
import pytest

import interop_helpers as H

MODELS_SUBDIR = os.path.join("models", "onnx")


def _model_paths() -> list[tuple[str, str]]:
    """(id, absolute path) of every model to test."""
    found = H.fixture_files("models/onnx", (".onnx",))  # from Tests/fixtures/models.tsv, never a listing
    for p in sorted(glob.glob(os.path.join(H.REPO_ROOT, "samples", "*.onnx"))):
        found.append((os.path.relpath(p, H.REPO_ROOT), p))
    return found


MODELS = _model_paths()
MODEL_IDS = [m[0] for m in MODELS]


def _has_external(path: str) -> bool:
    try:
        return bool(H.external_tensors(path))
    except Exception:  # noqa: BLE001 - unreadable files fail in the tests themselves
        return False


EXTERNAL_MODELS = [m for m in MODELS if not m[0].startswith("MISSING:") and _has_external(m[1])] or [
    ("MISSING:external-data model", "")  # fail loudly instead of an empty (skipped) parametrization
]


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _audio(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / 16000.0
    tone = 0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.1 * np.sin(2 * np.pi * 1375.0 * t)
    return tone + 0.02 * rng.standard_normal(n)


# Per model (key: file name without .onnx, or the folder for model.onnx): input name ->
# (concrete shape, generator). Generators: "audio", "zeros", "true", "normal",
# ("uniform", lo, hi), ("int", lo, hi_exclusive), or a constant number. dtypes come from the
# model's declared input types.
INPUT_SPECS: dict[str, dict[str, tuple]] = {
    "silero_vad": {
        "input": ([1, 512], "audio"),
        "state": ([2, 1, 128], "zeros"),
        "sr": ([], 16000),
    },
    "ppocr_mobile_v2_cls": {"x": ([1, 3, 48, 192], ("uniform", 0.0, 1.0))},
    "magika_standard_v3_3": {"bytes": ([1, 2048], ("int", 0, 257))},  # 0..255 bytes, 256 = padding
    "basic_pitch_nmp": {"serving_default_input_2:0": ([1, 43844, 1], "audio")},
    "romanizer_encoder": {"src": ([1, 8], ("int", 4, 60)), "src_mask": ([1, 8], "true")},  # vocab 160
    "romanizer_encoder_external": {"src": ([1, 8], ("int", 4, 60)), "src_mask": ([1, 8], "true")},
    "tashkeel_rawi_int8": {"input": ([1, 12], ("int", 4, 60))},  # vocab 302
    "logreg_iris": {"float_input": ([3, 2], "normal")},
    "mul_1": {"X": ([3, 2], "normal")},
    "sigmoid": {"x": ([3, 4, 5], "normal")},
}


def _spec_key(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.basename(os.path.dirname(path)) if stem == "model" else stem


def _declared(vi: onnx.ValueInfoProto) -> tuple[np.dtype, list]:
    tt = vi.type.tensor_type
    assert vi.type.WhichOneof("value") == "tensor_type", f"input {vi.name}: only tensor inputs are generated"
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim] if tt.HasField("shape") else None
    return dtype, dims


def _generate(rng: np.random.Generator, dtype: np.dtype, shape: list, gen) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    if gen == "audio":
        a = _audio(rng, n)
    elif gen == "zeros":
        a = np.zeros(n)
    elif gen == "true":
        a = np.ones(n, dtype=bool)
    elif gen == "normal":
        a = rng.standard_normal(n)
    elif isinstance(gen, tuple) and gen[0] == "uniform":
        a = rng.uniform(gen[1], gen[2], n)
    elif isinstance(gen, tuple) and gen[0] == "int":
        a = rng.integers(gen[1], gen[2], n)
    elif isinstance(gen, (int, float)):
        a = np.full(n, gen)
    else:
        raise ValueError(f"unknown generator {gen!r}")
    if dtype == np.object_:
        return np.array([f"s{int(v * 10) % 10}" for v in np.ravel(a)], dtype=object).reshape(shape)
    return np.asarray(a).astype(dtype).reshape(shape)


def make_inputs(path: str) -> dict:
    """Deterministic inputs for the model at path, checked against its declared inputs."""
    model = onnx.load(path, load_external_data=False)
    inputs = H.real_inputs(model)
    key = _spec_key(path)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    spec = INPUT_SPECS.get(key)
    if spec is not None:
        declared = {vi.name for vi in inputs}
        assert set(spec) == declared, f"{key}: input spec names {sorted(spec)} != declared inputs {sorted(declared)}"
    feeds = {}
    for vi in inputs:
        dtype, dims = _declared(vi)
        if spec is not None:
            shape, gen = spec[vi.name]
            if dims is not None:
                assert len(dims) == len(shape), f"{key}: input {vi.name} has rank {len(dims)}, spec {shape}"
                for d, s in zip(dims, shape):
                    assert d in (None, 0, s), f"{key}: input {vi.name} declares {dims}, spec {shape}"
        else:  # generic: symbolic dims -> 1, small values
            shape = [d if d else 1 for d in (dims or [])]
            gen = "true" if dtype == np.bool_ else (("int", 0, 10) if np.issubdtype(dtype, np.integer) else "normal")
        feeds[vi.name] = _generate(rng, np.dtype(dtype), list(shape), gen)
    return feeds


_ORIGINAL_RUNS: dict[str, tuple[dict, H.OrtOutcome]] = {}


def original_outcome(path: str, so) -> tuple[dict, H.OrtOutcome]:
    """ORT outcome of the original (cached per model: inputs and original do not change)."""
    if path not in _ORIGINAL_RUNS:
        feeds = make_inputs(path)
        outcome = H.ort_run(path, [feeds], so, repeat=True)
        if outcome.load_error is not None:
            pytest.fail(f"ORT cannot load the original {path}: {outcome.load_error}", pytrace=False)
        if outcome.run_failed:
            pytest.fail(f"ORT cannot run the original {path} on the constructed inputs: {outcome.runs[0]}", pytrace=False)
        _ORIGINAL_RUNS[path] = (feeds, outcome)
    return _ORIGINAL_RUNS[path]


def _compare_outputs(model_id: str, mode: str, path: str, written_path: str, so, problems: list, note: str = ""):
    feeds, r_orig = original_outcome(path, so)
    r_written = H.ort_run(written_path, [feeds], so)
    ort_problems = H.compare_ort(r_orig, r_written, ["constructed inputs"])
    problems.extend("(c) " + p for p in ort_problems)
    if r_written.load_error is None and not r_written.run_failed:
        diff = H.max_abs_diff(list(r_orig.runs[0]), list(r_written.runs[0]))
        identical = not ort_problems
        n_out = len(r_orig.runs[0])
    else:
        diff, identical, n_out = "n/a (ORT failed)", False, len(r_orig.runs[0])
    if r_orig.nondeterministic:
        note = (note + "; " if note else "") + "original nondeterministic in ORT"
    H.STATS.model_rows.append((model_id, mode, n_out, diff if isinstance(diff, str) else f"{diff:.3g}", "yes" if identical else "NO", note))


def _files_in(folder: str) -> set[str]:
    return set(os.listdir(folder))


def _relocate(out: str, dest_dir: str) -> str:
    """Move OUT and its side file (if any) into dest_dir; return the new OUT path."""
    os.makedirs(dest_dir)
    moved = os.path.join(dest_dir, os.path.basename(out))
    shutil.move(out, moved)
    if os.path.exists(out + ".data"):
        shutil.move(out + ".data", moved + ".data")
    return moved


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_models_present(fixtures_dir):
    root = os.path.join(fixtures_dir, MODELS_SUBDIR)
    assert os.path.isdir(root), f"{root} is missing (run `make fixtures`)"
    assert len([m for m in MODELS if not m[0].startswith("samples")]) == 10, f"the fixture manifest lists: {MODEL_IDS}"
    assert not EXTERNAL_MODELS[0][0].startswith("MISSING:"), f"no external-data model found under {root}"


@pytest.mark.parametrize("model_id,path", MODELS, ids=MODEL_IDS)
def test_model_roundtrip(model_id, path, fixtures_dir, convert, workdir):
    assert not model_id.startswith("MISSING:"), f"models folder not found: {path}"
    out = os.path.join(workdir, "out.onnx")
    convert(path, out)
    problems: list[str] = []

    # (a)
    original = onnx.load(path)
    written = H.load_written(out, problems)
    if written is not None and written != original:
        problems.append("(a) onnx.load(written) != onnx.load(original):\n" + H.model_text_diff(original, written))

    # external data: what was external stays external (and nothing else becomes external)
    ext_in = H.external_tensors(path)
    try:
        ext_out = H.external_tensors(out)
    except Exception as e:  # noqa: BLE001
        ext_out = None
        problems.append(f"reading OUT without its external data fails: {type(e).__name__}: {e}")
    if ext_out is not None and ext_out != ext_in:
        problems.append(
            f"external tensors not preserved by default: IN has {len(ext_in)} "
            f"({[n for _, n in ext_in][:5]}...), OUT has {len(ext_out)} ({[n for _, n in ext_out][:5]}...)"
        )

    # (b)
    v_orig, m_orig = H.checker_verdict(path)
    v_written, m_written = H.checker_verdict(out)
    if v_orig != v_written:
        problems.append(
            f"(b) onnx.checker verdict differs: original {v_orig or 'passes'} {m_orig}; "
            f"written {v_written or 'passes'} {m_written}"
        )

    # (c)
    with open(path, "rb") as f1, open(out, "rb") as f2:
        note = "byte-identical file" if f1.read() == f2.read() else ""
    _compare_outputs(model_id, "default", path, out, H.session_options(), problems, note)

    if problems:
        pytest.fail(f"{model_id}:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("model_id,path", EXTERNAL_MODELS, ids=[m[0] for m in EXTERNAL_MODELS])
def test_external_data_default_layout(model_id, path, fixtures_dir, convert, workdir):
    """IN stores tensors externally: OUT must too, in `<OUT name>.data`, relocatable."""
    assert not model_id.startswith("MISSING:"), f"no model with external data found under {H.fixtures_path()}"
    out_dir = os.path.join(workdir, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "converted.onnx")
    convert(path, out)
    problems = H.external_layout_problems(out)
    files = _files_in(out_dir)
    if files != {"converted.onnx", "converted.onnx.data"}:
        problems.append(f"OUT folder holds {sorted(files)}, expected exactly converted.onnx and converted.onnx.data")
    if not H.external_tensors(out):
        problems.append("OUT stores no tensor externally")
    if problems:
        pytest.fail(f"{model_id}:\n" + "\n".join(problems), pytrace=False)

    # ORT must load OUT from wherever its folder is (relative location): move it, then run.
    moved = _relocate(out, os.path.join(workdir, "elsewhere", "deeper"))
    if os.listdir(out_dir):
        problems.append(f"files left behind after moving OUT and its side file: {os.listdir(out_dir)}")
    v_orig, _ = H.checker_verdict(path)
    v_moved, m_moved = H.checker_verdict(moved)
    if v_orig != v_moved:
        problems.append(f"(b) checker verdict of the moved OUT differs: {v_moved} {m_moved}")
    _compare_outputs(model_id, "default, moved", path, moved, H.session_options(), problems)
    if problems:
        pytest.fail(f"{model_id}:\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("model_id,path", MODELS, ids=MODEL_IDS)
def test_forced_external_data(model_id, path, fixtures_dir, convert, workdir):
    """`--external-data`: every tensor of >= 1024 bytes is external, in one relative side file."""
    assert not model_id.startswith("MISSING:"), f"models folder not found: {path}"
    out_dir = os.path.join(workdir, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "forced.onnx")
    convert(path, out, "--external-data")
    problems = H.external_layout_problems(out)

    shallow = onnx.load(out, load_external_data=False)
    big_inline = []
    n_big = 0
    for t in H.iter_graph_tensors(shallow.graph):
        if H.is_external(t):
            continue
        n = H.tensor_nbytes(t)
        if n is not None and n >= H.EXTERNAL_THRESHOLD:
            big_inline.append(f"{t.name or '<unnamed attribute tensor>'} ({n} bytes)")
    for t in H.iter_graph_tensors(shallow.graph):
        n = H.tensor_nbytes(t)
        n_big += n is not None and n >= H.EXTERNAL_THRESHOLD
    if big_inline:
        problems.append(f"{len(big_inline)} tensors of >= {H.EXTERNAL_THRESHOLD} bytes are not external: {big_inline[:8]}")
    files = _files_in(out_dir)
    allowed = {"forced.onnx", "forced.onnx.data"}
    if not files <= allowed or (n_big and files != allowed):
        problems.append(f"OUT folder holds {sorted(files)}, expected {sorted(allowed) if n_big else 'forced.onnx (+ optional forced.onnx.data)'}")

    # (a) equal up to how tensor values are encoded (raw_data vs typed fields, inline vs external)
    original = onnx.load(path)
    written = H.load_written(out, problems)
    if written is not None:
        co, cw = H.canonical_tensors(original), H.canonical_tensors(written)
        if co != cw:
            problems.append("(a) written != original (tensor encodings normalized):\n" + H.model_text_diff(co, cw))

    # (b), (c) after moving OUT + side file to another folder
    moved = _relocate(out, os.path.join(workdir, "elsewhere"))
    v_orig, m_orig = H.checker_verdict(path)
    v_written, m_written = H.checker_verdict(moved)
    if v_orig != v_written:
        problems.append(
            f"(b) onnx.checker verdict differs: original {v_orig or 'passes'} {m_orig}; "
            f"written {v_written or 'passes'} {m_written}"
        )
    _compare_outputs(model_id, "--external-data", path, moved, H.session_options(), problems,
                     f"{n_big} tensors >= {H.EXTERNAL_THRESHOLD} B")
    if problems:
        pytest.fail(f"{model_id}:\n" + "\n".join(problems), pytrace=False)
