#!/usr/bin/env python3
"""`.mpz` compression benchmark: `modelpress compress --preset` / `decompress` against zstd, xz,
onnxruntime's quantize_dynamic and onnxconverter-common's fp16 conversion, all in one run.

Driven by scripts/bench-mpz.sh; see BENCHMARKS.md. Subcommands:

  generate DIR          write the seeded ~1 GB model to DIR/mpz-bench.onnx (reused while its parameters
                        are unchanged) and check that onnxruntime runs it
  graph MODEL OUT       write what the .mpz graph section of an ONNX model decodes to (schemas/mpz.md 5)
                        to OUT; print JSON {bytes, detached, files}
  peer quantize|fp16 IN OUT
                        run one peer (quantize_dynamic QInt8 / convert_float_to_float16) on IN, write
                        OUT; print JSON {seconds} (load + convert + save, imports excluded)
  cosine ORIG LABEL=PATH...
                        run ORIG and each candidate in onnxruntime on the inputs of
                        Tests/interop/test_onnx_models.make_inputs; print JSON per label
  run                   measure everything, write the section of BENCHMARKS.md

`run` never imports onnx, numpy or onnxruntime: each measured command is its own child process and
its peak RSS is the ru_maxrss that os.wait4 reports for that child (bench_onnx.measure), which
includes the child's own children (the `sh -c 'cat | zstd'` pipelines).
"""

import argparse
import datetime
import glob
import json
import math
import os
import re
import shlex
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_onnx as B  # noqa: E402  (measure, machine_info, sh, maxrss_bytes)

BEGIN = "<!-- bench-mpz:begin -->"
END = "<!-- bench-mpz:end -->"
HERE = os.path.abspath(__file__)
REPO = os.path.dirname(os.path.dirname(HERE))
BIG_NAME = "mpz-bench.onnx"
PRESETS = ["lossless", "balanced", "small"]
# The Huffman decoder's target: one core, the order of zstd's huff0 in C.
HUFFMAN_DECODE_TARGET_MBPS = 1000.0
# The .mpz spec's marker on a TensorProto whose data went to a chunk: varint field 536870910.
MARKER_TAG = bytes([0xF0, 0xFF, 0xFF, 0xFF, 0x0F])  # varint of (536870910 << 3) | 0
CHUNK_ELEMENTS = 1024  # ModelPress.chunkElements: tensors this large get a chunk of their own

SECTION_INTRO = """## .mpz compression

`scripts/bench-mpz.sh` measures `modelpress compress MODEL -o OUT.mpz --preset P` (lossless, balanced,
small) and `modelpress decompress OUT.mpz -o MODEL'` on every real model (`.fixtures/models`, from `make fixtures`: ONNX,
the external-data ONNX model, Keras `.hdf5`/`.h5`/`.keras`) and on a generated ~1 GB float32 ONNX
model, and in the same run, on the same files, the peers: `zstd -19` and `xz -9` of the file (its
external data included), onnxruntime's `quantize_dynamic` (QInt8 weights) and onnxconverter-common's
`convert_float_to_float16(model, keep_io_types=True)`. For ONNX it runs the original and every
decompressed or converted model in onnxruntime on the inputs of
`Tests/interop/test_onnx_models.make_inputs` and gives the smallest output cosine (Keras outputs are
judged by `Tests/interop/test_keras_mpz.py`). It also sums the Huffman-coded tensors' coded bits
against their order-0 entropy (from `compress --json`), runs the `mpbench` micro-benchmarks (Huffman
and context coder throughput on one core), and compares the `.mpz` graph section with `zstd -19` /
`xz -9` of the same bytes.
Rerun with `scripts/bench-mpz.sh` (`RUNS=5`, `MODELPRESS_BIN=...`, `MPBENCH_BIN=...`, `BIG=0`,
`KEEP=0`: see the script); it installs `scripts/requirements-bench.txt` (onnxconverter-common) into
`.venv` first.
"""


# ---------------------------------------------------------------------------------------------
# Children that import onnx / numpy / onnxruntime (each its own process)


def _nelem(t):
    n = 1
    for d in t.dims:
        n *= d
    return n


def cmd_graph(args):
    """The graph section's bytes: the ModelProto with each chunked tensor's data left out and the marker
    added, as ModelPress's ONNXSkeleton writes it (schemas/mpz.md 5; ModelPress.hasChunk)."""
    import onnx
    from onnx import TensorProto

    typed = ["float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data"]
    detached = [0]
    files = set()

    def detach(t):
        ext = t.data_location == TensorProto.EXTERNAL
        if ext:
            for kv in t.external_data:
                if kv.key == "location":
                    files.add(kv.value)
        if t.data_type in (TensorProto.STRING, TensorProto.UNDEFINED) or t.HasField("segment"):
            return
        if _nelem(t) < CHUNK_ELEMENTS and not ext:
            return
        if ext:
            where = 3
        elif t.raw_data:
            where = 1
        elif any(len(getattr(t, f)) for f in typed):
            where = 2
        else:
            where = 0
        t.ClearField("raw_data")
        for f in typed:
            t.ClearField(f)
        t.MergeFromString(MARKER_TAG + bytes([where]))  # kept as an unknown field, serialized last
        detached[0] += 1

    def sparse(s):
        detach(s.values)
        detach(s.indices)

    def graph(g):
        for t in g.initializer:
            detach(t)
        for s in g.sparse_initializer:
            sparse(s)
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    detach(a.t)
                for t in a.tensors:
                    detach(t)
                if a.HasField("sparse_tensor"):
                    sparse(a.sparse_tensor)
                for s in a.sparse_tensors:
                    sparse(s)
                if a.HasField("g"):
                    graph(a.g)
                for sg in a.graphs:
                    graph(sg)

    m = onnx.load(args.model, load_external_data=False)
    graph(m.graph)
    proto = m.SerializeToString()
    data = struct.pack("<Q", len(proto)) + proto  # the section: u64 graph size, then the graph (ONNX: nothing after)
    with open(args.out, "wb") as f:
        f.write(data)
    folder = os.path.dirname(os.path.abspath(args.model))
    print(json.dumps({"bytes": len(data), "detached": detached[0],
                      "files": sorted(os.path.join(folder, p) for p in files)}))
    return 0


def cmd_peer(args):
    # Imports first, outside the timing (onnxruntime.quantization alone takes about a second).
    import onnx

    if args.tool == "quantize":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        t0 = time.perf_counter()
        quantize_dynamic(args.input, args.output, weight_type=QuantType.QInt8)
    else:
        from onnxconverter_common import float16

        t0 = time.perf_counter()
        model = onnx.load(args.input)
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
        del model
        onnx.save_model(converted, args.output)
    print(json.dumps({"seconds": time.perf_counter() - t0}))
    return 0


def cmd_cosine(args):
    import numpy as np
    import onnxruntime as ort

    sys.path.insert(0, os.path.join(REPO, "Tests", "interop"))
    import interop_helpers as H  # noqa: E402
    import test_onnx_models as OM  # noqa: E402  (make_inputs: the interop tests' realistic inputs)

    def short(e):
        s = str(e).strip().splitlines()
        s = s[0] if s else ""
        s = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", s)
        s = re.sub(r"^Load model from \S+ failed: ?", "", s)
        s = re.sub(r"^This is an invalid model\. ", "", s)
        return s[:110]

    def floats(outs):
        return [np.asarray(o) for o in outs
                if isinstance(o, np.ndarray) and np.issubdtype(o.dtype, np.floating)]

    so = H.session_options()
    result = {}
    try:
        feeds = OM.make_inputs(args.original)
        ref = ort.InferenceSession(args.original, so, providers=H.ORT_PROVIDERS).run(None, feeds)
    except Exception as e:  # noqa: BLE001
        print(json.dumps({c.split("=", 1)[0]: {"error": "original: " + short(e)} for c in args.candidates}))
        return 0
    ref_f = floats(ref)
    for cand in args.candidates:
        label, path = cand.split("=", 1)
        r = {}
        try:
            sess = ort.InferenceSession(path, so, providers=H.ORT_PROVIDERS)
        except Exception as e:  # noqa: BLE001
            result[label] = {"error": "ORT load fails: " + short(e)}
            continue
        try:
            out = sess.run(None, feeds)
        except Exception as e:  # noqa: BLE001
            result[label] = {"error": "ORT run fails: " + short(e)}
            continue
        del sess
        identical = len(out) == len(ref) and all(
            (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
             and a.shape == b.shape and a.tobytes() == b.tobytes()) or (
                not isinstance(a, np.ndarray) and a == b)
            for a, b in zip(ref, out))
        out_f = floats(out)
        cosines, diffs = [], []
        for a, b in zip(ref_f, out_f):
            a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
            if a64.shape != b64.shape:
                r["error"] = f"output shape {b.shape} != {a.shape}"
                break
            if not np.all(np.isfinite(b64[np.isfinite(a64)])):
                r["nonfinite"] = True
            ok = np.isfinite(a64) & np.isfinite(b64)
            a64, b64 = a64[ok], b64[ok]
            na, nb = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
            cosines.append(1.0 if na == 0 and nb == 0 else 0.0 if na == 0 or nb == 0
                           else float(np.dot(a64, b64) / (na * nb)))
            diffs.append(float(np.max(np.abs(a64 - b64))) if a64.size else 0.0)
        r["identical"] = bool(identical)
        r["cosine"] = min(cosines) if cosines else None
        r["maxAbsDiff"] = max(diffs) if diffs else None
        result[label] = r
    print(json.dumps(result))
    return 0


def big_params(args):
    return {"fc": args.fc, "width": args.width, "convs": args.convs, "seed": args.seed, "opset": 17,
            "df": 5, "channel_sigma": 0.3, "version": 1}


def cmd_generate(args):
    """A conv stem, then a chain of `fc` fully connected layers alternating MatMul + Add and Gemm
    (transB=1), ReLU between. Weights: Student-t (5 degrees of freedom, scaled to unit variance) times
    a log-normal per-output-channel scale (sigma 0.3, mean square 1) times the He scale sqrt(2/fan_in):
    the heavier tails and uneven channels of trained weights. Biases small normal."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    os.makedirs(args.dir, exist_ok=True)
    params = big_params(args)
    path = os.path.join(args.dir, BIG_NAME)
    stamp = path + ".params.json"
    if os.path.exists(path) and os.path.exists(stamp):
        old = json.load(open(stamp))
        if {k: old.get(k) for k in params} == params:
            print(f"bench-mpz: reusing {path} ({old['parameters']:,} parameters)", file=sys.stderr)
            return 0
    for p in (path, stamp):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    df = params["df"]
    sigma = params["channel_sigma"]
    inits, nodes = [], []

    def weight(shape, out_axis, fan_in, name):
        a = rng.standard_t(df, size=shape).astype(np.float32)
        a *= np.float32(np.sqrt((df - 2) / df) * np.sqrt(2.0 / fan_in))
        s = np.exp(sigma * rng.standard_normal(shape[out_axis]) - sigma * sigma).astype(np.float32)
        view = [1] * len(shape)
        view[out_axis] = shape[out_axis]
        a *= s.reshape(view)
        inits.append(numpy_helper.from_array(a, name))
        return name

    def bias(n, name):
        inits.append(numpy_helper.from_array(rng.standard_normal(n).astype(np.float32) * np.float32(0.01), name))
        return name

    x, c_in = "x", 64
    for i, c in enumerate([256, 512, 512, 512][: args.convs]):
        wn = weight((c, c_in, 3, 3), 0, c_in * 9, f"conv.{i}.weight")
        bn = bias(c, f"conv.{i}.bias")
        nodes.append(helper.make_node("Conv", [x, wn, bn], [f"conv.{i}.out"], name=f"conv.{i}/Conv", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"conv.{i}.out"], [f"conv.{i}.relu"], name=f"conv.{i}/Relu"))
        x, c_in = f"conv.{i}.relu", c
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1))
    x, w = "flat", args.width
    dims = [c_in] + [w] * args.fc
    for i in range(args.fc):
        last = i == args.fc - 1
        out = "y" if last else f"fc.{i}.out"
        bn = bias(w, f"fc.{i}.bias")
        if i % 2 == 1:  # Gemm with the weight stored [out, in], as PyTorch exports nn.Linear
            wn = weight((w, dims[i]), 0, dims[i], f"fc.{i}.weight")
            nodes.append(helper.make_node("Gemm", [x, wn, bn], [out], name=f"fc.{i}/Gemm", transB=1))
        else:
            wn = weight((dims[i], w), 1, dims[i], f"fc.{i}.weight")
            nodes.append(helper.make_node("MatMul", [x, wn], [f"fc.{i}.mm"], name=f"fc.{i}/MatMul"))
            nodes.append(helper.make_node("Add", [f"fc.{i}.mm", bn], [out], name=f"fc.{i}/Add"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"fc.{i}.relu"], name=f"fc.{i}/Relu"))
            x = f"fc.{i}.relu"
    graph = helper.make_graph(
        nodes, "mpz_bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", w])],
        initializer=inits,
        doc_string=f"{args.convs} Conv + {args.fc} x (MatMul + Add | Gemm), width {w}, seed {args.seed}",
    )
    model = helper.make_model(graph, producer_name="modelpress-bench-mpz", producer_version="1",
                              opset_imports=[helper.make_opsetid("", params["opset"])])
    model.ir_version = 8
    onnx.checker.check_model(model)
    n_params = sum(_nelem(t) for t in inits)
    onnx.save_model(model, path)
    del model, inits, graph
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": np.random.default_rng(1).standard_normal((1, 64, 16, 16)).astype(np.float32)})[0]
    if y.shape != (1, w) or not np.all(np.isfinite(y)):
        print(f"bench-mpz: onnxruntime output {y.shape}, finite={np.all(np.isfinite(y))}", file=sys.stderr)
        return 1
    params.update(parameters=n_params, bytes=os.path.getsize(path), seconds=round(time.perf_counter() - t0, 1))
    with open(stamp, "w") as f:
        json.dump(params, f)
    print(f"bench-mpz: generated {path} ({n_params:,} parameters, {os.path.getsize(path):,} bytes; "
          f"onnxruntime runs it) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# run (no onnx / numpy here)


def log(msg):
    print(f"bench-mpz: {msg}", file=sys.stderr, flush=True)


def try_measure(argv, timeout, stdout_path=os.devnull):
    """(wall s, peak RSS bytes, None) or (None, None, error text)."""
    try:
        wall, rss = B.measure(argv, stdout_path=stdout_path, timeout=timeout)
        return wall, rss, None
    except SystemExit as e:  # a non-zero status, a crash, a kill by the timeout
        return None, None, str(e).strip()


def short_error(text):
    """The telling line of a child's stderr: the last exception or error line, without module paths."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Fail\w*)\b", ln) or "error:" in ln:
            ln = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", ln)
            ln = re.sub(r"^(\w+\.)+(?=\w+(Error|Exception))", "", ln)  # onnx.x.y.ConvertError -> ConvertError
            return ln[:120]
    return (lines[-1] if lines else "failed")[:120]


_PATHS = []  # (absolute prefix, how BENCHMARKS.md names it), longest first


def set_paths(args):
    work = os.path.abspath(args.dir)
    rel = os.path.relpath(work, REPO)
    _PATHS[:] = sorted([(os.path.join(work, "mpz-work"), os.path.join(rel, "mpz-work") if not rel.startswith("..")
                         else "<work>"), (work, rel if not rel.startswith("..") else "<bench dir>"),
                        (os.path.abspath(args.shared), ".fixtures"), (REPO + os.sep, ""),
                        (os.path.dirname(os.path.abspath(args.python)) + os.sep, "")],
                       key=lambda t: -len(t[0]))


def clean(text):
    """No absolute machine paths in BENCHMARKS.md: the work dir, the shared folder, the repository."""
    for prefix, name in _PATHS:
        text = text.replace(prefix, name)
    return text


def rm(*paths):
    for p in paths:
        for q in (p, p + ".data"):
            if os.path.lexists(q):
                os.remove(q)


def file_bytes(path):
    """A model's bytes with its external data (ModelPress and onnx write it to `<file>.data`)."""
    n = os.path.getsize(path)
    if os.path.exists(path + ".data"):
        n += os.path.getsize(path + ".data")
    return n


def med(xs):
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.binary = args.bin
        self.work = os.path.join(args.dir, "mpz-work")
        os.makedirs(self.work, exist_ok=True)
        self.failures = []  # (what, command, error)

    def timed(self, label, argv, runs, outputs=(), stdout_path=os.devnull, timeout=None):
        """RUNS measured runs of argv (outputs deleted before each); {walls, rss, error}."""
        r = {"walls": [], "rss": [], "error": None}
        for i in range(runs):
            rm(*outputs)
            wall, rss, err = try_measure(argv, timeout or self.args.timeout, stdout_path)
            if err:
                r["error"] = err
                self.failures.append((label, shlex.join(argv), short_error(err.split("\n", 1)[-1] or err)))
                log(f"FAILED {label}: {err[:400]}")
                break
            r["walls"].append(wall)
            r["rss"].append(rss)
            log(f"{label:60} run {i + 1}/{runs} {wall:8.3f} s {rss / 1e6:7.0f} MB")
        return r

    def runs_for(self, warm_seconds, runs):
        """Fewer runs for a slow command so it stays near the per-command budget."""
        if warm_seconds * runs > self.args.budget:
            return max(1, int(self.args.budget // max(warm_seconds, 1e-3)))
        return runs

    # One model, every method ---------------------------------------------------------------
    def model(self, name, path, kind, runs, big=False):
        a = self.args
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        out = {"name": name, "kind": kind, "methods": {}, "reports": {}, "big": big}
        ext = ".onnx" if kind == "onnx" else (".weights.h5" if path.endswith(".weights.h5")
                                               else os.path.splitext(path)[1])
        files = [path]
        if kind == "onnx":
            g = os.path.join(self.work, f"{stem}.graph")
            res = subprocess.run([a.python, HERE, "graph", path, g], capture_output=True, text=True)
            if res.returncode == 0:
                info = json.loads(res.stdout)
                files += [f for f in info["files"] if f not in files]
                out["graph"] = {"path": g, "bytes": info["bytes"], "detached": info["detached"]}
            else:
                out["graph"] = {"error": short_error(res.stderr)}
        out["files"] = files
        out["bytes"] = sum(os.path.getsize(f) for f in files)
        decoded = {}
        for preset in PRESETS:
            mpz = os.path.join(self.work, f"{stem}.{preset}.mpz")
            dec = os.path.join(self.work, f"{stem}.{preset}.dec{ext}")
            m = {"label": f"modelpress {preset}"}
            out["methods"][f"mpz {preset}"] = m
            # untimed warm-up with --json: the report and the file's sections
            argv = [self.binary, "compress", path, "-o", mpz, "--preset", preset, "-q"]
            rm(mpz)
            t0 = time.perf_counter()
            res = subprocess.run(argv + ["--json"], capture_output=True, text=True, timeout=a.timeout)
            warm = time.perf_counter() - t0
            if res.returncode != 0:
                err = short_error(res.stderr)
                m["error"] = err
                self.failures.append((f"{name} compress {preset}", shlex.join(argv + ["--json"]), err))
                log(f"FAILED {name} compress {preset}: {res.stderr[:400]}")
                continue
            d = json.loads(res.stdout)
            out["reports"][preset] = {"report": d["report"], "mpz": d["mpz"], "ratio": d["ratio"],
                                      "inputBytes": d["input"]["bytes"]}
            n = self.runs_for(warm, runs)
            c = self.timed(f"{name} compress {preset}", argv, n, outputs=[mpz])
            m["compress"] = c
            m["bytes"] = os.path.getsize(mpz) if os.path.exists(mpz) else None
            if c["error"]:
                continue
            dargv = [self.binary, "decompress", mpz, "-o", dec, "-q"]
            rm(dec)
            t0 = time.perf_counter()
            _, _, err = try_measure(dargv, a.timeout)  # warm-up
            warm = time.perf_counter() - t0
            if err:
                m["decompress"] = {"walls": [], "rss": [], "error": err}
                self.failures.append((f"{name} decompress {preset}", shlex.join(dargv), short_error(err)))
                log(f"FAILED {name} decompress {preset}: {err[:400]}")
                continue
            m["decompress"] = self.timed(f"{name} decompress {preset}", dargv, self.runs_for(warm, runs),
                                         outputs=[dec])
            if os.path.exists(dec):
                decoded[preset] = dec
            rm(mpz)
        # zstd -19 and xz -9 of the file(s)
        threads = "-T0" if big else "-T1"
        for tool, level, ext_c in (("zstd", "-19", ".zst"), ("xz", "-9", ".xz")):
            comp = os.path.join(self.work, f"{stem}{ext_c}")
            back = os.path.join(self.work, f"{stem}{ext_c}.out")
            if tool == "zstd" and len(files) == 1:
                argv = ["zstd", level, threads, "-q", "-f", files[0], "-o", comp]
            elif tool == "zstd":  # stdin: give zstd the size it would see on a file
                argv = ["sh", "-c", f'cat "$@" | zstd {level} {threads} -q --stream-size={out["bytes"]} -o "{comp}"',
                        "sh", *files]
            else:
                argv = ["sh", "-c", f'cat "$@" | xz {level} {threads} -c > "{comp}"', "sh", *files]
            m = {"label": f"{tool} {level} {threads}"}
            out["methods"][f"{tool} {level}"] = m
            m["compress"] = self.timed(f"{name} {tool} {level} {threads}", argv, 1 if big else runs, outputs=[comp])
            if m["compress"]["error"]:
                continue
            m["bytes"] = os.path.getsize(comp)
            dargv = (["zstd", "-d", "-q", "-f", comp, "-o", back] if tool == "zstd"
                     else ["sh", "-c", f'xz -d {threads} -c "$1" > "$2"', "sh", comp, back])
            m["decompress"] = self.timed(f"{name} {tool} -d", dargv, 1 if big else runs, outputs=[back])
            if os.path.exists(back) and os.path.getsize(back) != out["bytes"]:
                m["error"] = f"round trip gave {os.path.getsize(back)} bytes, not {out['bytes']}"
                self.failures.append((f"{name} {tool} -d", shlex.join(dargv), m["error"]))
            rm(comp, back)
        # the ONNX peers
        peers = {}
        if kind == "onnx":
            for tool, label in (("quantize", "quantize_dynamic QInt8"), ("fp16", "fp16 (onnxconverter-common)")):
                po = os.path.join(self.work, f"{stem}.{tool}.onnx")
                m = {"label": label}
                out["methods"][label] = m
                argv = [a.python, HERE, "peer", tool, path, po]
                seconds, walls, rsss = [], [], []
                for i in range(1 if big else runs):
                    rm(po)
                    so = os.path.join(self.work, "peer.json")
                    wall, rss, err = try_measure(argv, a.timeout, stdout_path=so)
                    if err:
                        m["error"] = "fails: " + short_error(err)
                        log(f"{name} {label}: {m['error']}")
                        break
                    seconds.append(json.load(open(so))["seconds"])
                    walls.append(wall)
                    rsss.append(rss)
                    log(f"{name + ' ' + label:60} run {i + 1} {seconds[-1]:8.3f} s (process {wall:.2f} s) "
                        f"{rss / 1e6:7.0f} MB")
                if m.get("error"):
                    rm(po)
                    continue
                m["compress"] = {"walls": seconds, "process": walls, "rss": rsss, "error": None}
                m["bytes"] = file_bytes(po)
                peers[label] = po
            # outputs in onnxruntime
            cands = [f"mpz {p}={decoded[p]}" for p in PRESETS if p in decoded] + [f"{k}={v}" for k, v in peers.items()]
            if cands:
                t0 = time.perf_counter()
                res = subprocess.run([a.python, HERE, "cosine", path, *cands], capture_output=True, text=True,
                                     timeout=a.timeout)
                if res.returncode == 0:
                    cos = json.loads(res.stdout.strip().splitlines()[-1])
                    for label, r in cos.items():
                        out["methods"][label]["cosine"] = r
                else:
                    log(f"cosine check of {name} failed: {res.stderr[-600:]}")
                    for c in cands:
                        out["methods"][c.split("=", 1)[0]]["cosine"] = {"error": short_error(res.stderr)}
                log(f"{name}: onnxruntime outputs compared in {time.perf_counter() - t0:.1f} s")
            rm(*peers.values())
        for p in decoded.values():
            rm(p)
        return out


# ---------------------------------------------------------------------------------------------
# Markdown


def fmt_int(n):
    return "-" if n is None else f"{n:,}"


def fmt_s(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_mb(x):
    return "-" if x is None else f"{x / 1e6:,.0f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def fmt_cos(r):
    if r is None:
        return "-"
    if "error" in r:
        return clean(r["error"])
    if r.get("identical"):
        return "1 (bit-identical)"
    c = r.get("cosine")
    if c is None:
        return "- (no float output)"
    s = f"{c:.6f}" if c < 0.999999 else f"{c:.7f}"
    return s + (" (non-finite outputs)" if r.get("nonfinite") else "")


def method_cells(m, size):
    """bytes, ratio, compress s, compress RSS, decompress s, decompress RSS."""
    if m.get("error") and "bytes" not in m:
        return [clean(m["error"]), "-", "-", "-", "-", "-"]
    c, d = m.get("compress") or {}, m.get("decompress") or {}
    cells = [fmt_int(m.get("bytes")), fmt_ratio(size / m["bytes"]) if m.get("bytes") else "-"]
    cells += [fmt_s(med(c.get("walls"))) if not c.get("error") else "FAILED", fmt_mb(med(c.get("rss")))]
    cells += [fmt_s(med(d.get("walls"))) if d and not d.get("error") else ("FAILED" if d.get("error") else "-"),
              fmt_mb(med(d.get("rss"))) if d else "-"]
    return cells


def ratio_of(mo, key):
    m = mo["methods"].get(key)
    if not m:
        return None
    return mo["bytes"] / m["bytes"] if m.get("bytes") else None


def detail_table(models, with_cosine):
    head = "| model | method | bytes | ratio | compress s | compress peak RSS MB | decompress s | decompress peak RSS MB |"
    sep = "|---|---|---:|---:|---:|---:|---:|---:|"
    if with_cosine:
        head += " output cosine |"
        sep += "---|"
    lines = [head, sep]
    for mo in models:
        lines.append(f"| {mo['name']} | original | {mo['bytes']:,} | 1.00 | - | - | - | - |" + (" - |" if with_cosine else ""))
        for key, m in mo["methods"].items():
            row = [mo["name"], m["label"]] + method_cells(m, mo["bytes"])
            if with_cosine:
                row.append(fmt_cos(m.get("cosine")) if m.get("bytes") else "-")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def entropy_rows(mo):
    rows = []
    for preset in PRESETS:
        rep = mo["reports"].get(preset)
        if not rep:
            continue
        n_t = syms = 0
        coded = entropy = 0.0
        params = 0
        for t in rep["report"]["tensors"]:
            if "codedBytes" not in t or "entropyBits" not in t:
                continue
            p = t["estimatedBytes"] - math.ceil(t["elements"] * t["bits"] / 8)
            n_t += 1
            syms += t["elements"]
            params += p
            coded += (t["codedBytes"] - p) * 8
            entropy += t["entropyBits"] * t["elements"]
        rows.append((preset, n_t, syms, entropy, coded, params))
    return rows


def parse_kv(line):
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


def write_section(args, results, big, huffman, context, extra):
    info = B.machine_info(args.dir)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    py = args.python

    def pyver(mod, attr="__version__"):
        return B.sh([py, "-c", f"import {mod} as m; print(m.{attr})"])

    versions = {
        "modelpress": B.sh([args.bin, "--version"]),
        "swift": (B.sh(["swift", "--version"]).splitlines() or ["?"])[0],
        "zstd": B.sh(["zstd", "--version"]).replace("*** ", "").split(",")[0].strip(" *"),
        "xz": (B.sh(["xz", "--version"]).splitlines() or ["?"])[0],
        "python": B.sh([py, "-c", "import platform; print(platform.python_version())"]),
        "onnx": pyver("onnx"),
        "onnxruntime": pyver("onnxruntime"),
        "onnxconverter-common": pyver("onnxconverter_common"),
        "numpy": pyver("numpy"),
        "git": B.sh(["git", "-C", REPO, "describe", "--always", "--dirty", "--abbrev=12"]),
    }
    onnx_models = [m for m in results if m["kind"] == "onnx"]
    keras_models = [m for m in results if m["kind"] == "keras"]
    L = [BEGIN, "", SECTION_INTRO, f"### Results ({now})", ""]
    L += [
        f"- Machine: {info['cpu']}, {info['nproc']} cores (usable {info['nproc_available']}), {info['memory']} memory, "
        f"{info['kernel']}, work dir on {info['filesystem']}; other jobs may share the cores",
        f"- Versions: modelpress {versions['modelpress']} ({args.label}; {versions['swift']}), "
        f"mpbench ({args.mpbench_label}); repository at `{versions['git']}`; {versions['zstd']}; {versions['xz']}; "
        f"Python {versions['python']}, onnx {versions['onnx']}, onnxruntime {versions['onnxruntime']}, "
        f"onnxconverter-common {versions['onnxconverter-common']}, numpy {versions['numpy']}",
        f"- Method: page cache warm. Per shared model and command one untimed warm-up run (for `compress`: with "
        f"`--json`, whose report and `mpz` summary feed tables 3 and 5), then {args.runs} measured runs; the tables "
        f"give medians (fewer runs for commands slower than {args.budget:.0f} s per command in all; the ~1 GB model: "
        f"see its table). Wall time is the whole process. Peak RSS is the child's `ru_maxrss` (`wait4`; a "
        f"`sh -c 'cat | zstd'` pipeline counts its largest process). `modelpress` runs on all cores (its default); "
        f"`zstd` and `xz` run with `-T1` on the shared models (files under 15 MB: one block either way) and `-T0` "
        f"(all cores) on the ~1 GB model. ratio = original bytes (`.onnx` + external data, or the Keras file) / "
        f"output bytes. `compress s` of `quantize_dynamic` and fp16 is `onnx`/`onnxruntime` load + convert + save "
        f"inside the Python process (imports excluded: they take about a second); its RSS is the whole Python "
        f"process. fp16 is `convert_float_to_float16(model, keep_io_types=True)`; `quantize_dynamic(in, out, "
        f"weight_type=QuantType.QInt8)` with its defaults. `decompress` writes float32 ONNX (`--onnx-weights float`, "
        f"the default) or the Keras file's own format. zstd/xz decompression output is checked for size.",
        "- output cosine: the smallest cosine similarity over the model's float outputs (flattened, float64), "
        "onnxruntime CPU on one thread, candidate vs original, on `Tests/interop/test_onnx_models.make_inputs` "
        "(generic normal inputs for the generated model); `1 (bit-identical)` when every output is bit-identical.",
        "",
    ]

    # 1. overview
    L += ["#### 1. Shared models: ratio per method (original bytes / output bytes) and output cosine", ""]
    L += ["| model | original bytes | lossless | balanced | small | zstd -19 | xz -9 | quantize_dynamic | fp16 "
          "| cosine balanced | cosine small | cosine quantize_dynamic | cosine fp16 |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"]

    def rcell(mo, key):
        m = mo["methods"].get(key)
        if m is None:
            return "n/a"
        if m.get("error") and not m.get("bytes"):
            return clean(m["error"]) if m["error"].startswith("fails") else "FAILED"
        return fmt_ratio(ratio_of(mo, key))

    for mo in results:
        if mo["big"]:
            continue
        cells = [mo["name"], f"{mo['bytes']:,}"]
        cells += [rcell(mo, k) for k in ("mpz lossless", "mpz balanced", "mpz small", "zstd -19", "xz -9")]
        if mo["kind"] == "onnx":
            cells += [rcell(mo, "quantize_dynamic QInt8"), rcell(mo, "fp16 (onnxconverter-common)")]
            for k in ("mpz balanced", "mpz small", "quantize_dynamic QInt8", "fp16 (onnxconverter-common)"):
                m = mo["methods"].get(k, {})
                cells.append(fmt_cos(m.get("cosine")) if m.get("bytes") else "-")
        else:
            cells += ["n/a"] * 2 + ["(Keras: interop tests)"] + ["-"] * 3
        L.append("| " + " | ".join(cells) + " |")
    # sums
    tot = {k: [0, 0] for k in ("mpz lossless", "mpz balanced", "mpz small", "zstd -19", "xz -9")}
    for mo in results:
        if mo["big"]:
            continue
        if all(mo["methods"].get(k, {}).get("bytes") for k in tot):
            for k in tot:
                tot[k][0] += mo["bytes"]
                tot[k][1] += mo["methods"][k]["bytes"]
    if tot["zstd -19"][1]:
        L.append("| **all shared models** | " + f"{tot['zstd -19'][0]:,} | "
                 + " | ".join(f"**{v[0] / v[1]:.2f}**" for v in tot.values()) + " | | | | | | |")
    L += ["", "Ratios of lossless below zstd or xz, and presets below `zstd -19`, are listed under *Notes* at the end.", ""]

    # timings
    L += ["Per method: bytes, times and peak RSS (ONNX models; Keras below).", ""]
    L += detail_table(onnx_models, True)
    L += ["", "<details><summary>Keras files: bytes, times and peak RSS</summary>", ""]
    L += detail_table(keras_models, False)
    L += ["", "</details>", ""]

    # 2. big model
    if big:
        meta = big["meta"]
        L += [f"#### 2. Generated model: `{BIG_NAME}`, {meta['parameters']:,} float32 parameters "
              f"({big['bytes'] / 1e9:.2f} GB)", ""]
        L += [f"{meta['convs']} Conv 3x3 layers (64 -> 256 -> 512 -> 512 channels), global pool, then {meta['fc']} "
              f"fully connected layers of width {meta['width']} alternating MatMul + Add and Gemm (transB=1), ReLU "
              f"between; weights Student-t ({meta['df']} degrees of freedom, unit variance) x a log-normal per-output-"
              f"channel scale (sigma {meta['channel_sigma']}) x the He scale; seed {meta['seed']}; generated by "
              f"`scripts/bench_mpz.py generate` with `onnx` (took {meta.get('seconds', 0):.0f} s when made; reused from "
              f"`bench-out/` since). `modelpress` rows: one warm-up run, then up to {args.runs} measured runs (median) "
              f"within {args.budget:.0f} s per command; zstd, xz and the Python peers: one run each. **zstd and xz "
              f"run with `-T0`** (both cores) here.", ""]
        L += detail_table([big], True)
        L.append("")

    # 3. entropy
    L += ["#### 3. Huffman-coded symbols against their order-0 entropy", ""]
    L += ["Over the tensors the `huffman` pass coded (rows of `compress --json` with `codedBytes` and `entropyBits`): "
          "coded symbol bits = sum(codedBytes x 8 - parameter bytes x 8), parameter bytes = estimatedBytes - "
          "ceil(elements x bits / 8) (scales, zero points, codebooks; Huffman tables are in the coded bits); entropy "
          "bits = sum(entropyBits x elements). overhead = coded / entropy - 1; below 0 where the coder's `runs` mode "
          "(zero runs of pruned tensors) beats the order-0 entropy. The lossless preset codes float byte planes, "
          "not symbols, so it has no rows here.", ""]
    L += ["| model | preset | Huffman-coded tensors | symbols | entropy bits/symbol | coded bits/symbol | overhead |",
          "|---|---|---:|---:|---:|---:|---:|"]
    all_e = {p: [0.0, 0.0] for p in PRESETS}
    for mo in results + ([big] if big else []):
        for preset, n_t, syms, entropy, coded, _ in entropy_rows(mo):
            if n_t == 0:
                continue
            all_e[preset][0] += entropy
            all_e[preset][1] += coded
            L.append(f"| {mo['name']} | {preset} | {n_t} | {syms:,} | {entropy / syms:.4f} | {coded / syms:.4f} | "
                     f"{(coded / entropy - 1) * 100:+.2f}% |" if entropy else
                     f"| {mo['name']} | {preset} | {n_t} | {syms:,} | 0 | {coded / syms:.4f} | - |")
    for p, (e, c) in all_e.items():
        if e:
            L.append(f"| **all models** | {p} | | | | | **{(c / e - 1) * 100:+.2f}%** |")
    L.append("")

    # 4. throughput
    L += ["#### 4. Entropy coder throughput (`mpbench`, one core)", ""]
    if huffman.get("error"):
        L += [f"`{huffman['command']}` failed: {huffman['error']}", ""]
    else:
        L += [f"`{huffman['command']}` ({huffman['seconds']:.0f} s): seeded symbol streams from the real quantizers; "
              "MB/s = 10^6 symbols per second (the plane-coder row: input bytes); median of its runs. "
              f"**Target: decode >= {HUFFMAN_DECODE_TARGET_MBPS / 1000:.0f} GB/s of symbols on one core** (zstd's "
              "huff0 in C decodes at that order).", ""]
        cols = [("symbols", ("symbols", "bytes")), ("bits", ("bits",)), ("mode", ("mode", "transform")),
                ("coded bits/symbol", ("coded_bits_per_symbol",)), ("entropy bits/symbol", ("entropy_bits_per_symbol",)),
                ("encode MB/s", ("encode_MBps",)), ("decode MB/s", ("decode_MBps",)),
                ("decode MB/s, 2 threads", ("decode_2threads_MBps",))]
        known = {k for _, ks in cols for k in ks} | {"case"}
        L += ["| case | " + " | ".join(c for c, _ in cols) + " | other | decode >= 1 GB/s |",
              "|---|" + "---:|" * len(cols) + "---|---|"]
        for row in huffman["rows"]:
            dec = row.get("decode_MBps")
            try:
                mark = "met" if float(dec) >= HUFFMAN_DECODE_TARGET_MBPS else "**not met**"
            except (TypeError, ValueError):
                mark = "-"
            if row.get("case", "").startswith("planes"):
                mark = "- (float byte planes, MB/s of input bytes)"
            cells = [next((row[k] for k in ks if k in row), "") for _, ks in cols]
            other = ", ".join(f"{k}={v}" for k, v in row.items() if k not in known)
            L.append(f"| {row.get('case', '?')} | " + " | ".join(cells) + f" | {other} | {mark} |")
        L.append("")
    if context.get("error"):
        L += [f"`mpbench context` failed: {context['error']}", ""]
    else:
        L += ["Context coder (graph and info sections; `mpbench context FILE`, best of 3 each way) on "
              "the graph-section bytes of the largest graphs (made as in table 5) and on all shared ONNX graphs "
              "concatenated:", "",
              "| input | bytes | coded | ratio | compress MB/s | decompress MB/s |", "|---|---:|---:|---:|---:|---:|"]
        for row in context["rows"]:
            try:
                ratio = f"{int(row['bytes']) / int(row['coded']):.2f}"
            except (KeyError, ValueError, ZeroDivisionError):
                ratio = "-"
            L.append(f"| {row.get('label', row.get('file'))} | {fmt_int(int(row['bytes'])) if 'bytes' in row else '-'} | "
                     f"{fmt_int(int(row['coded'])) if 'coded' in row else '-'} | {ratio} | "
                     f"{row.get('compress_MBps', '-')} | {row.get('decompress_MBps', '-')} |"
                     + (" ROUND TRIP FAILED |" if "ROUNDTRIP=FAILED" in row.get("raw", "") else ""))
        L.append("")

    # 5. graph
    L += ["#### 5. The graph section against zstd and xz", ""]
    L += ["ONNX: the graph section's decoded bytes are rebuilt with `onnx` (`scripts/bench_mpz.py graph`): the "
          "ModelProto with the data of every tensor of >= 1024 elements or with external data left out "
          "(initializers, sparse tensors, Constant and other attribute tensors, subgraphs) and the spec's detached "
          "marker (field 536870910) added, as schemas/mpz.md 5 says. These are **exactly** the bytes ModelPress "
          "stores: their size equals `mpz.graphBytes` for every model below (the `= graphBytes` column), and "
          "`mpbench context` codes them to exactly `mpz.graphStoredBytes` (table 4 shows some). Figures from the "
          "lossless preset (the graph section is the same for every preset here: see the last column). Keras: the "
          "graph section holds ModelPress's IR form followed by the HDF5 structure record, which cannot be "
          "rebuilt outside ModelPress, so only their sizes are given.", ""]
    L += ["| model | graph bytes | = graphBytes | .mpz graph (context-coded) | zstd -19 | xz -9 | .mpz vs zstd | "
          "graphStoredBytes balanced / small |", "|---|---:|---|---:|---:|---:|---:|---|"]
    for mo in onnx_models + ([big] if big else []):
        g = mo.get("graph", {})
        rep = mo["reports"].get("lossless")
        if "error" in g or not rep:
            L.append(f"| {mo['name']} | {g.get('error', 'compress failed')} | | | | | | |")
            continue
        mpz = rep["mpz"]
        z, x = g.get("zstd"), g.get("xz")
        others = " / ".join(fmt_int(mo["reports"][p]["mpz"]["graphStoredBytes"]) if p in mo["reports"] else "-"
                            for p in ("balanced", "small"))
        same = "yes" if g["bytes"] == mpz["graphBytes"] else f"**no**: {mpz['graphBytes']:,}"
        vs = f"{(z / mpz['graphStoredBytes'] - 1) * 100:+.1f}%" if z and mpz["graphStoredBytes"] else "-"
        L.append(f"| {mo['name']} | {g['bytes']:,} | {same} | {mpz['graphStoredBytes']:,} | {fmt_int(z)} | "
                 f"{fmt_int(x)} | {vs} | {others} |")
    tg = [(mo["reports"]["lossless"]["mpz"]["graphStoredBytes"], mo["graph"].get("zstd"), mo["graph"].get("xz"),
           mo["graph"]["bytes"]) for mo in onnx_models if "lossless" in mo["reports"] and "bytes" in mo.get("graph", {})]
    if tg and all(t[1] for t in tg):
        s = [sum(t[i] for t in tg) for i in range(4)]
        L.append(f"| **all shared ONNX models** | {s[3]:,} | | **{s[0]:,}** | **{s[1]:,}** | **{s[2]:,}** | "
                 f"**{(s[1] / s[0] - 1) * 100:+.1f}%** | |")
    L += ["", "`.mpz vs zstd`: how much larger `zstd -19` of the same bytes is than the .mpz graph section "
          "(positive: the context coder wins).", ""]
    rows = []
    for mo in keras_models:
        rep = mo.get("reports", {}).get("lossless")
        if not rep:
            continue
        m = rep["mpz"]
        rest = m["fileBytes"] - m["graphStoredBytes"] - sum(t["fileBytes"] for t in m["tensors"])
        rows.append(f"| {mo['name']} | {m['graphBytes']:,} | {fmt_int(m.get('containerBytes'))} "
                    f"| {m['graphStoredBytes']:,} | {rest:,} |")
    if rows:  # only when the Keras runs kept their --json reports
        L += ["| Keras file | graph section bytes (graph + container record) | of which container record | "
              "graph section stored | info + index + header + padding |", "|---|---:|---:|---:|---:|"] + rows
    L.append("")

    # notes
    notes = []
    for mo in results + ([big] if big else []):
        zs = mo["methods"].get("zstd -19", {}).get("bytes")
        xs = mo["methods"].get("xz -9", {}).get("bytes")
        sizes = {p: mo["methods"].get(f"mpz {p}", {}).get("bytes") for p in PRESETS}
        over_z = [p for p, b in sizes.items() if b and zs and b > zs]
        over_x = [p for p, b in sizes.items() if b and xs and b > xs and p not in over_z and p == "lossless"]
        over_o = [p for p, b in sizes.items() if b and b > mo["bytes"]]
        parts = []
        if over_z:
            parts.append("larger than `zstd -19` (" + f"{zs:,} B): " + ", ".join(
                f"`{p}` {sizes[p]:,} B ({(sizes[p] / zs - 1) * 100:+.1f}%)" for p in over_z))
        if over_x:
            parts.append(f"`lossless` {sizes['lossless']:,} B is larger than `xz -9` ({xs:,} B, "
                         f"{(sizes['lossless'] / xs - 1) * 100:+.1f}%) but smaller than `zstd -19`")
        if over_o:
            parts.append("larger than the original: " + ", ".join(f"`{p}`" for p in over_o))
        if parts:
            notes.append(f"{mo['name']} ({mo['bytes']:,} B): " + "; ".join(parts))
    for what, cmd, err in extra.get("failures", []):
        notes.append(f"FAILED: {what}: `{clean(cmd)}`: {clean(err)}")
    L += ["#### Notes", "", "A `.mpz` file has a 64-byte header, a 4 + 40 x sections byte index, an info section and "
          "64-byte aligned sections, so files of a few hundred bytes grow; zstd's frame costs 9-18 bytes.", ""]
    L += [f"- {n}" for n in notes] or ["- nothing odd: every preset is smaller than `zstd -19` and the original, "
                                       "and no command failed"]
    L += ["", f"Whole script: {extra['total'] / 60:.1f} min (big-model generation {extra['gen']:.0f} s of it; "
          "without the release build).", "", END]
    return "\n".join(L)


def cmd_run(args):
    t_start = time.perf_counter()
    set_paths(args)
    bench = Bench(args)
    shared = args.shared
    onnx_root = os.path.join(shared, "models", "onnx")
    onnx_models = sorted(glob.glob(os.path.join(onnx_root, "*.onnx"))) + sorted(
        glob.glob(os.path.join(onnx_root, "*", "*.onnx")))
    keras_models = sorted(glob.glob(os.path.join(shared, "models", "keras", "*.hdf5"))) + sorted(
        glob.glob(os.path.join(shared, "models", "keras-zoo", "*.h5"))) + sorted(
        glob.glob(os.path.join(shared, "models", "keras-zoo", "*.keras")))
    if not onnx_models:
        raise SystemExit(f"bench-mpz: no ONNX models under {onnx_root}; run `make fixtures` or set MODELPRESS_FIXTURES")
    results = []
    for i, p in enumerate(onnx_models):
        log(f"[{i + 1}/{len(onnx_models)}] {os.path.relpath(p, onnx_root)}")
        results.append(bench.model(os.path.relpath(p, onnx_root), p, "onnx", args.runs))
    for i, p in enumerate(keras_models):
        log(f"[{i + 1}/{len(keras_models)}] {os.path.relpath(p, os.path.join(shared, 'models'))}")
        results.append(bench.model(os.path.relpath(p, os.path.join(shared, "models")), p, "keras", args.runs))

    # the generated model
    big = None
    gen_seconds = 0.0
    if args.big:
        t0 = time.perf_counter()
        subprocess.run([args.python, HERE, "generate", args.dir, "--fc", str(args.fc), "--width", str(args.width),
                        "--convs", str(args.convs), "--seed", str(args.seed)], check=True)
        gen_seconds = time.perf_counter() - t0
        path = os.path.join(args.dir, BIG_NAME)
        log(f"generated model: {os.path.getsize(path) / 1e9:.2f} GB")
        big = bench.model(BIG_NAME, path, "onnx", args.runs, big=True)
        big["meta"] = json.load(open(path + ".params.json"))

    # graph sections: zstd / xz of the same bytes (sizes only)
    graphs = []
    for mo in results + ([big] if big else []):
        g = mo.get("graph", {})
        if "path" not in g:
            continue
        for tool, argv in (("zstd", ["zstd", "-19", "-T1", "-c", g["path"]]), ("xz", ["xz", "-9", "-T1", "-c", g["path"]])):
            res = subprocess.run(argv, capture_output=True)
            g[tool] = len(res.stdout) if res.returncode == 0 else None
        graphs.append((mo, g))

    # mpbench
    huffman = {"command": "mpbench huffman" + (f" --symbols {args.huffman_symbols}" if args.huffman_symbols else "")}
    log(f"running {huffman['command']}")
    t0 = time.perf_counter()
    res = subprocess.run([args.mpbench, "huffman"] + (["--symbols", str(args.huffman_symbols)]
                                                      if args.huffman_symbols else []),
                         capture_output=True, text=True, timeout=args.timeout)
    huffman["seconds"] = time.perf_counter() - t0
    rows = [parse_kv(ln) for ln in res.stdout.splitlines() if ln.startswith("case=")]
    if res.returncode != 0 or not rows:
        huffman["error"] = (res.stderr or res.stdout).strip()[:400] or f"exit {res.returncode}, no case= lines"
    huffman["rows"] = rows
    huffman["raw"] = res.stdout
    for ln in res.stdout.splitlines():
        log("  " + ln)
    context = {"rows": []}
    onnx_graphs = [(mo, g) for mo, g in graphs if not mo["big"]]
    picked = sorted(onnx_graphs, key=lambda t: -t[1]["bytes"])[:3] + [(mo, g) for mo, g in graphs if mo["big"]]
    allg = os.path.join(bench.work, "all-shared-onnx.graphs")
    with open(allg, "wb") as f:
        for _, g in onnx_graphs:
            f.write(open(g["path"], "rb").read())
    files = [(f"{mo['name']} graph", g["path"]) for mo, g in picked] + [
        (f"all {len(onnx_graphs)} shared ONNX graphs concatenated", allg)]
    res = subprocess.run([args.mpbench, "context"] + [p for _, p in files], capture_output=True, text=True,
                         timeout=args.timeout)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("file=")]
    if res.returncode != 0 or len(lines) != len(files):
        context["error"] = (res.stderr or res.stdout).strip()[:400]
    for (label, _), ln in zip(files, lines):
        row = parse_kv(ln)
        row["label"] = label
        row["raw"] = ln
        context["rows"].append(row)
        log("  " + ln)

    total = time.perf_counter() - t_start
    section = write_section(args, results, big, huffman, context,
                            {"failures": bench.failures, "total": total, "gen": gen_seconds})
    md_path = args.out
    text = open(md_path).read() if os.path.exists(md_path) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + section + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = md_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, md_path)
    # what the run found, for whoever runs it
    raw = os.path.join(args.dir, "bench-mpz-results.json")
    with open(raw, "w") as f:
        json.dump({"models": [{k: v for k, v in mo.items() if k != "reports"} for mo in results + ([big] if big else [])],
                   "huffman": huffman, "context": context, "failures": bench.failures}, f, indent=1, default=str)
    log(f"wrote {md_path} in {total / 60:.1f} min (raw figures in {raw})")
    print(section)
    return 1 if bench.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def model_args(p):
        p.add_argument("--fc", type=int, default=15, help="fully connected layers (the first is 512 x width)")
        p.add_argument("--width", type=int, default=4096)
        p.add_argument("--convs", type=int, default=3, help="Conv 3x3 layers in the stem (at most 4)")
        p.add_argument("--seed", type=int, default=20240611)

    g = sub.add_parser("generate")
    g.add_argument("dir")
    model_args(g)
    gr = sub.add_parser("graph")
    gr.add_argument("model")
    gr.add_argument("out")
    pe = sub.add_parser("peer")
    pe.add_argument("tool", choices=["quantize", "fp16"])
    pe.add_argument("input")
    pe.add_argument("output")
    co = sub.add_parser("cosine")
    co.add_argument("original")
    co.add_argument("candidates", nargs="+", help="LABEL=PATH")
    r = sub.add_parser("run")
    r.add_argument("--bin", required=True)
    r.add_argument("--mpbench", required=True)
    r.add_argument("--label", default="")
    r.add_argument("--mpbench-label", default="")
    r.add_argument("--python", default=sys.executable)
    r.add_argument("--shared", required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--budget", type=float, default=60, help="seconds of measured runs per command")
    r.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one command")
    r.add_argument("--big", type=int, default=1, help="0: skip the generated ~1 GB model")
    r.add_argument("--huffman-symbols", type=int, default=0, help="mpbench huffman --symbols (0: its default)")
    model_args(r)
    args = ap.parse_args()
    return {"generate": cmd_generate, "graph": cmd_graph, "peer": cmd_peer, "cosine": cmd_cosine,
            "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
