"""`.mpz` files read by a second implementation written from the specification alone.

`mpz_context_ref.py` decodes the context-coded stream from schemas/mpz-context.md and `mpz_huffman_ref.py`
decodes tensor chunks (Huffman symbol blocks, byte planes) from schemas/mpz.md 7 and schemas/mpz-huffman.md;
the header and index are parsed by test_mpz.parse_mpz (CRC32C, padding). Neither shares code with ModelPress.
On real models compressed by `modelpress compress -o x.mpz --preset P`:
  1. graph section (lossless; the samples, small real ONNX models and small Keras files): it is context-coded,
     decodes to exactly rawSize bytes laid out as mpz.md 5 says (u64 size, ModelProto, for Keras the container
     record: type name and sorted-key JSON); the detached markers name exactly the chunks' ordinals (ordinals
     numbered by mpz.md 1), and
       - ONNX: putting the original's tensor data back into the marked tensors gives the original ModelProto
         byte for byte (so every node, name, attribute and inline tensor is the source's);
       - Keras: every node in the `keras` domain; every initializer is a dataset of the source file
         (name = HDF5 path, same shape and type), inline ones with the dataset's bytes.
  2. info section: decodes to a JSON object of string values naming the producer and the preset.
  3. context-coded tensor chunks (encoding 5) decode to the source tensor's bytes.
  4. the annex's test vector decodes; the decoder rejects a truncated stream, trailing bytes and data for an
     empty payload (the annex's MUSTs).
  5. tensor chunks of every ONNX model at balanced and small (int8 tashkeel: lossless), of two Keras files at
     balanced, and of silero_vad under pipelines chosen to reach every symbol-block mode, plane flag and
     encoding: the values the spec defines (codes dequantized in f32 with the chunk's scales and zero points,
     codebook entries, reduced floats, rounded to the tensor's type; dense bytes) equal, bit for bit, the
     tensors `modelpress decompress` writes; dense chunks also equal the original's bytes. Damaged copies of
     real blocks are rejected as the Huffman annex requires.
"""

from __future__ import annotations

import functools
import json
import os
import struct

import h5py
import numpy as np
import onnx
import pytest
from google.protobuf import unknown_fields
from onnx import numpy_helper

import interop_helpers as H
import mpz_context_ref as CR
import mpz_huffman_ref as HR
import test_mpz as T  # parse_mpz: the header and index from schemas/mpz.md (module import: no re-collection)

DETACHED_FIELD = 536870910  # mpz.md 5: the detached marker's field number
DATA_FIELDS = ("raw_data", "float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
CONTAINER_TYPE = b"modelpress.keras.Container"
# The pure-Python context decoder runs at about 5 KB/s: test_context_chunks decodes one context-coded chunk of
# at most CONTEXT_CHUNK_LIMIT bytes per model; the chunk tests decode only those up to SMALL_CONTEXT_CHUNK.
CONTEXT_CHUNK_LIMIT = 40_000
SMALL_CONTEXT_CHUNK = 8_000

# model id -> (folder, relative path): folder "repo" is the repository, "fixtures" the real models (make fixtures).
GRAPH_MODELS = {
    "digits_mlp.onnx": ("repo", "samples/digits_mlp.onnx"),
    "digits_cnn.h5": ("repo", "samples/digits_cnn.h5"),
    "romanizer_encoder.onnx": ("fixtures", "onnx/romanizer_encoder.onnx"),
    "romanizer_encoder_external/model.onnx": ("fixtures", "onnx/romanizer_encoder_external/model.onnx"),
    "tashkeel_rawi_int8.onnx": ("fixtures", "onnx/tashkeel_rawi_int8.onnx"),
    "magika_standard_v3_3.onnx": ("fixtures", "onnx/magika_standard_v3_3.onnx"),
    "logreg_iris.onnx": ("fixtures", "onnx/logreg_iris.onnx"),
    "mul_1.onnx": ("fixtures", "onnx/mul_1.onnx"),
    "k3_fp16_mlp.h5": ("fixtures", "keras-zoo/k3_fp16_mlp.h5"),
    "k2_conv1d_weights_only.h5": ("fixtures", "keras-zoo/k2_conv1d_weights_only.h5"),
}
# Models with small context-coded chunks (lossless): the ONNX int8 embeddings and Keras fp16 kernels.
CONTEXT_CHUNK_MODELS = {
    "tashkeel_rawi_int8.onnx": ("fixtures", "onnx/tashkeel_rawi_int8.onnx"),
    "basic_pitch_nmp.onnx": ("fixtures", "onnx/basic_pitch_nmp.onnx"),
    "k3_fp16_mlp.h5": ("fixtures", "keras-zoo/k3_fp16_mlp.h5"),
}
KERAS_CHUNK_MODELS = {
    "digits_cnn.h5": ("repo", "samples/digits_cnn.h5"),
    "k3_fp16_mlp.h5": ("fixtures", "keras-zoo/k3_fp16_mlp.h5"),  # float16 weights
}
ONNX_MODELS = {"digits_mlp.onnx": ("repo", "samples/digits_mlp.onnx")} | {
    m: ("fixtures", os.path.relpath(p, os.path.join(H.fixtures_path(), "models"))) for m, p in T.MODELS
    if not m.startswith("MISSING:")}
# silero_vad under pipelines that reach every part of mpz.md 7 and the Huffman annex, and what each must
# produce at least once: (encoding, entropy, symbol-block mode or plane flags), None for "any".
PIPELINES = {
    "prune(sparsity=0.5)": {(1, 0, 3)},  # planes, rotate + zero mask
    "bf16": {(4, 1, 1)},  # reduced bfloat16, plane block with rotate
    "fp16,huffman": {(4, 1, None)},  # reduced float16
    "linear(bits=4,granularity=block),huffman": {(2, 1, 2)},  # per block, signed, tuples of 2
    "linear(bits=8,scheme=asymmetric),huffman": {(2, 1, 1)},  # zero points, plain
    "prune(sparsity=0.9),linear(bits=8),huffman": {(2, 1, 3)},  # runs, single literals
    "prune(sparsity=0.95),kmeans(bits=2),huffman": {(3, 1, 3)},  # runs, literal pairs
    "kmeans(bits=4,granularity=group),huffman": {(3, 1, None)},  # palette per block
    "linear(bits=3),huffman": {(2, 1, 3), (2, 1, 2)},  # 3-bit tuples (t = 2) or runs
    "kmeans(bits=1),huffman": {(3, 1, 0)},  # store mode
    "linear(bits=2,granularity=block,block=16)": {(2, 0, None)},  # packed codes, no entropy coding
}


def _model_path(model_id: str, where: tuple[str, str]) -> str:
    folder, rel = where
    base = H.REPO_ROOT if folder == "repo" else os.path.join(H.fixtures_path(), "models")
    path = os.path.join(base, rel)
    assert os.path.isfile(path), f"{model_id}: model not found at {path}"
    return path


@pytest.fixture(scope="session")
def compressed(modelpress, tmp_path_factory):
    """compressed(model_id, path, preset or None, passes=None) -> .mpz path; each compressed once."""
    base = str(tmp_path_factory.mktemp("mpz-spec"))
    cache: dict[tuple, str] = {}

    def get(model_id: str, path: str, preset: str | None, passes: str | None = None) -> str:
        key = (model_id, preset, passes)
        if key not in cache:
            out = os.path.join(base, f"{len(cache)}-{model_id.replace('/', '__')}.mpz")
            args = ["--passes", passes] if passes else ["--preset", preset]
            res = modelpress("compress", path, "-o", out, *args)
            assert res.returncode == 0 and os.path.isfile(out), f"{model_id}: compress failed\n{res.describe()}"
            cache[key] = out
        return cache[key]

    return get


@pytest.fixture(scope="session")
def decompressed(modelpress, compressed):
    """decompressed(mpz path, suffix) -> the file `modelpress decompress` writes (ONNX: float weights)."""
    cache: dict[tuple[str, str], str] = {}

    def get(mpz: str, suffix: str = ".onnx") -> str:
        if (mpz, suffix) not in cache:
            out = mpz[:-4] + ".out" + suffix
            res = modelpress("decompress", mpz, "-o", out)
            assert res.returncode == 0 and os.path.isfile(out), f"decompress {mpz} failed\n{res.describe()}"
            cache[(mpz, suffix)] = out
        return cache[(mpz, suffix)]

    return get


# --------------------------------------------------------------------------------------------
# mpz.md 1: tensor ordinals; mpz.md 5: detached markers
# --------------------------------------------------------------------------------------------


def _attribute_tensors(a: onnx.AttributeProto) -> list[onnx.TensorProto]:
    out = []
    if a.HasField("t"):
        out.append(a.t)
    out.extend(a.tensors)
    if a.HasField("sparse_tensor"):
        out += [a.sparse_tensor.values, a.sparse_tensor.indices]
    for s in a.sparse_tensors:
        out += [s.values, s.indices]
    if a.HasField("g"):
        out += _graph_tensors(a.g)
    for g in a.graphs:
        out += _graph_tensors(g)
    return out


def _graph_tensors(g: onnx.GraphProto) -> list[onnx.TensorProto]:
    out = list(g.initializer)
    for s in g.sparse_initializer:
        out += [s.values, s.indices]
    for node in g.node:
        for a in node.attribute:
            out += _attribute_tensors(a)
    return out


def model_tensors(m: onnx.ModelProto) -> list[onnx.TensorProto]:
    """The model's tensors in ordinal order (mpz.md 1); the messages themselves, so edits reach the model."""
    out = _graph_tensors(m.graph)
    for f in m.functions:
        for node in f.node:
            for a in node.attribute:
                out += _attribute_tensors(a)
        for a in f.attribute_proto:
            out += _attribute_tensors(a)
    for t in m.training_info:
        out += _graph_tensors(t.initialization) + _graph_tensors(t.algorithm)
    return out


def detached_marker(t: onnx.TensorProto) -> int | None:
    values = [f.data for f in unknown_fields.UnknownFieldSet(t) if f.field_number == DETACHED_FIELD]
    assert len(values) <= 1, f"tensor {t.name!r} carries {len(values)} detached markers"
    return values[0] if values else None


def _data_place(t: onnx.TensorProto) -> int:
    """Where the source kept a tensor's data, as the marker says it (mpz.md 5)."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return 3
    if t.HasField("raw_data"):
        return 1
    if any(len(getattr(t, f)) for f in DATA_FIELDS[1:]):
        return 2
    return 0


# --------------------------------------------------------------------------------------------
# Reading sections with the reference decoders
# --------------------------------------------------------------------------------------------


def _read(mpz: str) -> tuple[bytes, dict, list[dict]]:
    data = open(mpz, "rb").read()
    header, sections, problems = T.parse_mpz(data)
    assert not problems, f"{mpz}: {problems}"
    return data, header, sections


def _graph_section(sections: list[dict]) -> dict:
    graphs = [s for s in sections if s["kind"] == "graph"]
    assert len(graphs) == 1, f"{len(graphs)} graph sections"
    return graphs[0]


def _section_bytes(data: bytes, s: dict) -> bytes:
    return data[s["offset"]:s["offset"] + s["storedSize"]]


def _decoded_section(data: bytes, s: dict) -> bytes:
    stored = _section_bytes(data, s)
    if s["coding"] == 0:
        assert s["rawSize"] == s["storedSize"], f"stored {s['kind']} section: rawSize != storedSize"
        return stored
    assert s["coding"] == 1, f"{s['kind']} section with unknown coding {s['coding']}"
    out = _context_decode(stored, s["rawSize"])
    assert len(out) == s["rawSize"]
    return out


@functools.lru_cache(maxsize=16)
def _context_decode(stream: bytes, count: int) -> bytes:
    """CR.decode, once per stream: the presets of a model share their graph section."""
    return CR.decode(stream, count)


def split_graph_section(raw: bytes, keras: bool) -> tuple[bytes, bytes | None]:
    """(ModelProto bytes, container record or None) of a decoded graph section (mpz.md 5)."""
    assert len(raw) >= 8, "graph section shorter than its u64 size"
    (size,) = struct.unpack_from("<Q", raw, 0)
    assert 8 + size <= len(raw), f"graphSize {size} runs past the section's {len(raw)} bytes"
    graph = raw[8:8 + size]
    rest = raw[8 + size:]
    if not keras:
        assert not rest, f"{len(rest)} bytes after the graph of an ONNX source"
        return graph, None
    assert len(rest) >= 2, "Keras graph section without its container record"
    (name_size,) = struct.unpack_from("<H", rest, 0)
    assert rest[2:2 + name_size] == CONTAINER_TYPE, f"container type {rest[2:2 + name_size]!r}"
    return graph, rest[2 + name_size:]


def _sorted_key_problems(record: bytes) -> list[str]:
    problems = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        if keys != sorted(keys):
            problems.append(f"keys not sorted: {keys[:6]}")
        return dict(pairs)

    obj = json.loads(record.decode("utf-8"), object_pairs_hook=hook)
    assert isinstance(obj, dict), "container record is not a JSON object"
    return problems


def _onnx_problems(decoded: onnx.ModelProto, original: onnx.ModelProto, chunk_ordinals: set[int]) -> list[str]:
    """Puts the original's data back into the marked tensors; the result must be the original, byte for byte."""
    problems = []
    got = model_tensors(decoded)
    want = model_tensors(original)
    if len(got) != len(want):
        return [f"{len(got)} tensors in the graph, {len(want)} in the original"]
    for i, (g, w) in enumerate(zip(got, want)):
        marker = detached_marker(g)
        if marker is None:
            continue
        if i not in chunk_ordinals:
            problems.append(f"tensor {i} ({g.name!r}) is detached but has no chunk")
        if marker != _data_place(w):
            problems.append(f"tensor {i} ({g.name!r}): marker {marker}, the source kept its data at {_data_place(w)}")
        if any(f != "raw_data" and len(getattr(g, f)) for f in DATA_FIELDS) or g.HasField("raw_data"):
            problems.append(f"tensor {i} ({g.name!r}) is detached but still holds data")
        expected = onnx.TensorProto()
        expected.CopyFrom(w)
        for f in DATA_FIELDS:
            expected.ClearField(f)
        expected.DiscardUnknownFields()
        bare = onnx.TensorProto()
        bare.CopyFrom(g)
        bare.DiscardUnknownFields()
        if bare.SerializeToString(deterministic=True) != expected.SerializeToString(deterministic=True):
            problems.append(f"tensor {i} ({g.name!r}): name, type, dims, metadata or external data differ")
        g.CopyFrom(w)
    missing = chunk_ordinals - set(range(len(want)))
    if missing:
        problems.append(f"chunks for ordinals beyond the model's tensors: {sorted(missing)}")
    if decoded.SerializeToString(deterministic=True) != original.SerializeToString(deterministic=True):
        for a, b in zip(decoded.graph.node, original.graph.node):
            if a != b:
                problems.append(f"first differing node: {a.name!r} ({a.op_type}) vs {b.name!r} ({b.op_type})")
                break
        problems.append("with the data restored the graph is not the original ModelProto")
    return problems


def _keras_problems(decoded: onnx.ModelProto, path: str, chunks: dict[int, dict]) -> list[str]:
    problems = []
    ops = {n.domain for n in decoded.graph.node}
    if ops - {"keras"}:
        problems.append(f"nodes outside the keras domain: {sorted(ops - {'keras'})}")
    tensors = model_tensors(decoded)
    with h5py.File(path, "r") as f:
        for i, t in enumerate(tensors):
            ds = f.get(t.name)
            if not isinstance(ds, h5py.Dataset):
                problems.append(f"tensor {i} {t.name!r} is not a dataset of {os.path.basename(path)}")
                continue
            arr = ds[()]
            if list(t.dims) != list(arr.shape):
                problems.append(f"tensor {i} {t.name!r}: dims {list(t.dims)}, dataset shape {arr.shape}")
            want_dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
            if want_dtype.newbyteorder("<") != arr.dtype.newbyteorder("<"):
                problems.append(f"tensor {i} {t.name!r}: type {t.data_type}, dataset {arr.dtype}")
            marker = detached_marker(t)
            if marker is None:
                if _le_bytes(numpy_helper.to_array(t)) != _le_bytes(arr):
                    problems.append(f"tensor {i} {t.name!r}: inline data differ from the dataset")
            elif i not in chunks:
                problems.append(f"tensor {i} {t.name!r} is detached but has no chunk")
            elif list(chunks[i]["dims"]) != list(arr.shape):
                problems.append(f"chunk {i}: dims {chunks[i]['dims']}, dataset shape {arr.shape}")
    return problems


# --------------------------------------------------------------------------------------------
# 1. Graph section
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", list(GRAPH_MODELS))
def test_graph_section(model_id, compressed):
    path = _model_path(model_id, GRAPH_MODELS[model_id])
    keras = not path.endswith(".onnx")
    data, header, sections = _read(compressed(model_id, path, "lossless"))
    assert header["sourceFormat"] == (2 if keras else 1)
    section = _graph_section(sections)
    assert section["coding"] == 1, "the graph section is stored, not context-coded: nothing to check the annex on"
    raw = _decoded_section(data, section)
    graph, record = split_graph_section(raw, keras)
    decoded = onnx.ModelProto.FromString(graph)
    chunks = {s["ordinal"]: HR.parse_chunk(_section_bytes(data, s)) for s in sections if s["kind"] == "tensor"}
    marked = {i for i, t in enumerate(model_tensors(decoded)) if detached_marker(t) is not None}
    assert marked == set(chunks), f"detached markers {sorted(marked)} != chunk ordinals {sorted(chunks)}"
    if keras:
        problems = _sorted_key_problems(record) + _keras_problems(decoded, path, chunks)
    else:
        original = onnx.load(path, load_external_data=False)
        problems = _onnx_problems(decoded, original, set(chunks))
    assert not problems, f"{model_id}: " + "; ".join(problems[:10])


# --------------------------------------------------------------------------------------------
# 2. Info section
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["lossless", "balanced"])
def test_info_section(preset, compressed):
    path = _model_path("digits_mlp.onnx", GRAPH_MODELS["digits_mlp.onnx"])
    data, _, sections = _read(compressed("digits_mlp.onnx", path, preset))
    infos = [s for s in sections if s["kind"] == "info"]
    assert len(infos) == 1
    info = json.loads(_decoded_section(data, infos[0]).decode("utf-8"))
    assert isinstance(info, dict) and all(isinstance(v, str) for v in info.values()), info
    assert set(info) <= {"producer", "preset", "passes"}, info
    assert info.get("preset") == preset and info.get("producer", "").startswith("modelpress "), info
    if preset == "balanced":
        assert info.get("passes"), info


# --------------------------------------------------------------------------------------------
# 3. Context-coded tensor chunks
# --------------------------------------------------------------------------------------------


def _le_bytes(a: np.ndarray) -> bytes:
    """The array's elements, little-endian, row-major (a dense chunk's bytes)."""
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def _source_tensor_bytes(path: str, ordinal: int, decoded_graph: onnx.ModelProto | None) -> bytes:
    if path.endswith(".onnx"):
        return _le_bytes(numpy_helper.to_array(model_tensors(onnx.load(path))[ordinal]))
    name = model_tensors(decoded_graph)[ordinal].name
    with h5py.File(path, "r") as f:
        return _le_bytes(f[name][()])


@pytest.mark.parametrize("model_id", list(CONTEXT_CHUNK_MODELS))
def test_context_chunks(model_id, compressed):
    path = _model_path(model_id, CONTEXT_CHUNK_MODELS[model_id])
    data, _, sections = _read(compressed(model_id, path, "lossless"))
    decoded_graph = None
    if not path.endswith(".onnx"):  # the chunk's dataset is named in the graph
        graph, _ = split_graph_section(_decoded_section(data, _graph_section(sections)), True)
        decoded_graph = onnx.ModelProto.FromString(graph)
    context = []
    for s in sections:
        if s["kind"] == "tensor" and data[s["offset"]] == 5:
            c = HR.parse_chunk(_section_bytes(data, s))
            width = HR.DTYPE_WIDTH[c["dtype"]]
            assert width * c["n"] == s["rawSize"], f"chunk {s['ordinal']}: dense size != rawSize"
            if s["rawSize"] <= CONTEXT_CHUNK_LIMIT:
                context.append((s["ordinal"], c))
    assert context, f"{model_id}: no context-coded chunk of at most {CONTEXT_CHUNK_LIMIT} bytes"
    for ordinal, c in sorted(context, key=lambda oc: oc[1]["n"])[:1]:  # the decoder is slow: the smallest
        dense = CR.decode(c["data"], HR.DTYPE_WIDTH[c["dtype"]] * c["n"])
        assert dense == _source_tensor_bytes(path, ordinal, decoded_graph), f"chunk {ordinal}: decoded bytes differ"


# --------------------------------------------------------------------------------------------
# 4. What the decoder must reject (mpz-context.md 1, 4)
# --------------------------------------------------------------------------------------------


def _annex_test_vector() -> tuple[bytes, bytes]:
    """(text, coded bytes) of mpz-context.md section 5, read from the annex itself."""
    with open(os.path.join(H.REPO_ROOT, "schemas", "mpz-context.md"), encoding="utf-8") as f:
        annex = f.read()
    section = annex.split("## 5. Test vector", 1)[1]
    text = section.split("`", 2)[1].encode("ascii")
    coded = bytes.fromhex(" ".join(section.split("```", 2)[1].split()))
    return text, coded


def test_context_annex_test_vector():
    text, coded = _annex_test_vector()
    assert len(text) == 64 and len(coded) == 34, (len(text), len(coded))
    assert CR.decode(coded, len(text)) == text


def test_context_stream_damage(compressed):
    path = _model_path("mul_1.onnx", GRAPH_MODELS["mul_1.onnx"])
    data, _, sections = _read(compressed("mul_1.onnx", path, "lossless"))
    s = _graph_section(sections)
    stream = _section_bytes(data, s)
    assert CR.decode(stream, s["rawSize"])  # intact
    with pytest.raises(CR.ContextStreamError):
        CR.decode(stream[:-2], s["rawSize"])  # truncated: the decoder reads more than 4 bytes past the end
    with pytest.raises(CR.ContextStreamError):
        CR.decode(stream + b"\x00\x00\x00\x00", s["rawSize"])  # trailing bytes
    with pytest.raises(CR.ContextStreamError):
        CR.decode(stream, 0)
    with pytest.raises(CR.ContextStreamError):
        CR.decode(stream, (1 << 32) + 1)
    assert CR.decode(b"", 0) == b""


# --------------------------------------------------------------------------------------------
# 5. Tensor chunks against `modelpress decompress`
# --------------------------------------------------------------------------------------------


def _chunk_kind(c: dict) -> tuple[int, int, int]:
    """(encoding, entropy, symbol-block mode or plane flags; -1 when neither)."""
    if c["encoding"] in (2, 3) and c["entropy"] == 1 or c["encoding"] == 1 or c["encoding"] == 4 and c["entropy"]:
        return c["encoding"], c["entropy"], c["data"][0]
    return c["encoding"], c["entropy"], -1


def _chunk_problems(mpz: str, written, source=None) -> tuple[list[str], set]:
    """Every chunk of `mpz` decoded here against written(ordinal) (the array `modelpress decompress` wrote) and,
    for dense chunks, source(ordinal) (the original's array)."""
    data, _, sections = _read(mpz)
    problems, kinds = [], set()
    for s in sections:
        if s["kind"] != "tensor":
            continue
        i = s["ordinal"]
        c = HR.parse_chunk(_section_bytes(data, s))
        kinds.add(_chunk_kind(c))
        assert HR.DTYPE_WIDTH[c["dtype"]] * c["n"] == s["rawSize"], f"chunk {i}: dense size != rawSize"
        want = written(i)
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(c["dtype"]))
        if list(want.shape) != c["dims"] or want.dtype.newbyteorder("<") != dtype.newbyteorder("<"):
            problems.append(f"chunk {i}: dims/type {c['dims']}/{dtype}, written {list(want.shape)}/{want.dtype}")
            continue
        if c["encoding"] in (2, 3, 4):
            got = HR.chunk_values(c)
            if want.dtype == np.float32:
                ok = np.array_equal(got.view(np.uint32), want.reshape(-1).view(np.uint32))
            else:  # rounded to dtype (mpz.md 7.2)
                ok = np.array_equal(got.astype(want.dtype), want.reshape(-1))
            if not ok:
                diff = np.abs(got.astype(np.float64) - want.reshape(-1).astype(np.float64)).max()
                problems.append(f"chunk {i} ({_chunk_kind(c)}): values differ, max {diff:.3g}")
        else:
            if c["encoding"] == 5:
                if s["rawSize"] > SMALL_CONTEXT_CHUNK:
                    continue  # test_context_chunks decodes one
                dense = CR.decode(c["data"], s["rawSize"])
            else:
                dense = HR.dense_bytes(c)
            if dense != _le_bytes(want):
                problems.append(f"chunk {i} ({_chunk_kind(c)}): dense bytes differ from the written")
            if source is not None and dense != _le_bytes(source(i)):
                problems.append(f"chunk {i}: dense bytes differ from the original")
    return problems, kinds


def _onnx_arrays(path: str):
    tensors = model_tensors(onnx.load(path))
    return lambda i: numpy_helper.to_array(tensors[i])


# tashkeel's weights are int8 already: every preset gives it the lossless chunks, and the lossless .mpz is the one
# the tests above compressed (a debug build takes about 10 s per compress of it).
CHUNK_CASES = [(m, p) for m in ONNX_MODELS if m != "tashkeel_rawi_int8.onnx" for p in ("balanced", "small")] + [
    ("tashkeel_rawi_int8.onnx", "lossless")]


@pytest.mark.parametrize("model_id,preset", CHUNK_CASES, ids=[f"{m}-{p}" for m, p in CHUNK_CASES])
def test_chunks_decode_to_decompressed(model_id, preset, compressed, decompressed):
    path = _model_path(model_id, ONNX_MODELS[model_id])
    mpz = compressed(model_id, path, preset)
    problems, _ = _chunk_problems(mpz, _onnx_arrays(decompressed(mpz)), _onnx_arrays(path))
    assert not problems, f"{model_id} {preset}: " + "; ".join(problems[:10])


@pytest.mark.parametrize("model_id", list(KERAS_CHUNK_MODELS))
def test_keras_chunks_decode_to_decompressed(model_id, compressed, decompressed):
    """As above for Keras sources: the chunk's tensor is the dataset the graph names (float16 values rounded)."""
    path = _model_path(model_id, KERAS_CHUNK_MODELS[model_id])
    mpz = compressed(model_id, path, "balanced")
    written = decompressed(mpz, ".h5")
    data, _, sections = _read(mpz)
    graph, _ = split_graph_section(_decoded_section(data, _graph_section(sections)), True)
    names = [t.name for t in model_tensors(onnx.ModelProto.FromString(graph))]
    with h5py.File(written, "r") as out, h5py.File(path, "r") as src:
        problems, kinds = _chunk_problems(mpz, lambda i: out[names[i]][()], lambda i: src[names[i]][()])
    assert not problems, f"{model_id}: " + "; ".join(problems[:10])
    assert any(k[0] in (2, 3) for k in kinds), f"{model_id}: no quantized chunk: {sorted(kinds)}"


@pytest.mark.parametrize("passes", list(PIPELINES))
def test_chunk_encodings(passes, compressed, decompressed):
    path = _model_path("silero_vad.onnx", ("fixtures", "onnx/silero_vad.onnx"))
    mpz = compressed("silero_vad.onnx", path, None, passes)
    problems, kinds = _chunk_problems(mpz, _onnx_arrays(decompressed(mpz)))
    assert not problems, f"--passes {passes}: " + "; ".join(problems[:10])
    wanted = PIPELINES[passes]
    reached = {w for w in wanted if any(k[:2] == w[:2] and (w[2] is None or k[2] == w[2]) for k in kinds)}
    assert reached, f"--passes {passes}: no chunk of kind {sorted(wanted, key=str)}; chunks: {sorted(kinds)}"


def _first_chunk(mpz: str, kind: tuple) -> dict:
    data, _, sections = _read(mpz)
    for s in sections:
        if s["kind"] == "tensor":
            c = HR.parse_chunk(_section_bytes(data, s))
            if _chunk_kind(c)[:len(kind)] == kind:
                return c
    raise AssertionError(f"{mpz}: no chunk of kind {kind}")


def test_huffman_block_damage(compressed):
    """The second decoder enforces the annex's MUST-reject rules on damaged copies of real blocks."""
    path = _model_path("silero_vad.onnx", ("fixtures", "onnx/silero_vad.onnx"))
    c = _first_chunk(compressed("silero_vad.onnx", path, "balanced"), (2, 1, 1))  # linear, plain mode
    block, bits, n = c["data"], c["bits"], c["n"]
    assert len(HR.decode_symbol_block(block, bits, n)) == n
    damaged = {
        "trailing byte": block + b"\0",
        "truncated": block[:-1],
        "unknown mode": b"\x09" + block[1:],
        "table larger than the alphabet": block[:1] + struct.pack("<H", (1 << bits) + 1) + block[3:],
        "tuples above 4 bits": b"\x02" + block[1:],
    }
    for what, b in damaged.items():
        with pytest.raises(HR.HuffmanFormatError):
            HR.decode_symbol_block(b, bits, n)
            pytest.fail(f"{what}: accepted")
    with pytest.raises(HR.HuffmanFormatError):
        HR.decode_symbol_block(block, 13, n)  # no symbol block above 12 bits
    p = _first_chunk(compressed("silero_vad.onnx", path, "lossless"), (1, 0))  # planes
    width = HR.DTYPE_WIDTH[p["dtype"]]
    assert len(HR.decode_plane_block(p["data"], width, width * p["n"])) == width * p["n"]
    for what, b in {"unknown flag": bytes([p["data"][0] | 0x80]) + p["data"][1:],
                    "other width": p["data"][:1] + bytes([width * 2]) + p["data"][2:],
                    "trailing byte": p["data"] + b"\0"}.items():
        with pytest.raises(HR.HuffmanFormatError):
            HR.decode_plane_block(b, width, width * p["n"])
            pytest.fail(f"{what}: accepted")
