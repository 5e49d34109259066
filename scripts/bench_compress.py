#!/usr/bin/env python3
"""Compression pass benchmark: `modelpress compress` on a seeded ~100M-parameter ONNX model.

Driven by scripts/bench-compress.sh; see BENCHMARKS.md. Subcommands:

  generate DIR   write the seeded model to DIR/compress-bench.onnx (reused while its parameters
                 are unchanged) and check that onnxruntime runs it
  run            time every pass on one core and on all cores, write the section of BENCHMARKS.md

`run` never imports onnx, numpy or onnxruntime: each measured command is its own child process
and its peak RSS is the ru_maxrss that os.wait4 reports for that child (see bench_onnx.py, whose
measuring and machine-info helpers this script reuses).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_onnx as B  # noqa: E402  (measure, machine_info, sh, maxrss_bytes)

BEGIN = "<!-- bench-compress:begin -->"
END = "<!-- bench-compress:end -->"
MODEL_NAME = "compress-bench.onnx"

# (label, pipeline). The baseline loads the model, analyses it and runs a pass that changes nothing.
BASELINE = ("baseline: load + analysis + clip(threshold=1e30)", "clip(threshold=1e30)")
PASSES = [
    "linear(bits=8)",
    "linear(bits=4,granularity=block)",
    "kmeans(bits=4)",
    "kmeans(bits=4,granularity=channel)",
    "fp16",
    "prune(sparsity=0.5)",
    "prune(sparsity=0.5,scope=global)",
    "prune(sigma=1)",
    "ternary",
    "auto(max_error=0.02)",
    "prune(sparsity=0.5),kmeans(bits=4),huffman",
]

SECTION_INTRO = """## Compression passes (`modelpress compress`)

`scripts/bench-compress.sh` generates a seeded ONNX model of about 100M float32 parameters (a few
Conv layers, then a chain of 2048-wide MatMul + Add + Relu; checked to run in onnxruntime) and times
`modelpress compress MODEL --passes P -q` for each pass, once with `--single-thread` and once on
every core. The baseline `--passes 'clip(threshold=1e30)'` loads the model, analyses it and runs a
pass that changes nothing, so a pass's own time is estimated as (its wall time - the baseline's, same
thread setting). M weights/s = the report's `totals.processedElements` / that time / 10^6.
Rerun with `scripts/bench-compress.sh` (`RUNS=5`, `MODELPRESS_BIN=...`, `KEEP=1`: see the script).
"""


# ---------------------------------------------------------------------------------------------
# generate (imports onnx and numpy; runs as its own process)



# A pass time (wall - baseline) below this is within the run-to-run spread of loading a 388 MB model on
# a shared 2-core machine (seen: 0.3-0.5 s between runs of the same command), so no rate is derived.
NOISE_S = 0.25

def model_params(args):
    return {"layers": args.layers, "width": args.width, "convs": args.convs, "seed": args.seed, "opset": 17,
            "version": 1}


def cmd_generate(args):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    os.makedirs(args.dir, exist_ok=True)
    params = model_params(args)
    path = os.path.join(args.dir, MODEL_NAME)
    stamp = path + ".params.json"
    if os.path.exists(path) and os.path.exists(stamp) and json.load(open(stamp)) == params:
        print(f"bench-compress: reusing {path} ({params})", file=sys.stderr)
        return 0
    for p in (path, stamp):
        if os.path.exists(p):
            os.remove(p)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    w = args.width
    inits, nodes = [], []

    def weight(shape, fan_in, name):
        # Normal weights scaled like He init, with a few heavier-tailed outliers as real layers have.
        a = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        n_out = max(1, a.size // 10000)
        idx = rng.integers(0, a.size, n_out)
        a.reshape(-1)[idx] *= np.float32(6.0)
        inits.append(numpy_helper.from_array(a, name))
        return name

    def bias(n, name):
        inits.append(numpy_helper.from_array((rng.standard_normal(n, dtype=np.float32) * np.float32(0.01)), name))
        return name

    # Conv stem: [N, 64, 16, 16] -> convs of 3x3 -> global average pool -> [N, C]
    x, c_in = "x", 64
    chans = [256, 512, 512, 512][: args.convs]
    for i, c in enumerate(chans):
        wn = weight((c, c_in, 3, 3), c_in * 9, f"conv.{i}.weight")
        bn = bias(c, f"conv.{i}.bias")
        nodes.append(helper.make_node("Conv", [x, wn, bn], [f"conv.{i}.out"], name=f"conv.{i}/Conv", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"conv.{i}.out"], [f"conv.{i}.relu"], name=f"conv.{i}/Relu"))
        x, c_in = f"conv.{i}.relu", c
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1))
    # projection to the MLP width, then the chain
    x = "flat"
    dims = [c_in] + [w] * args.layers
    for i in range(args.layers):
        wn = weight((dims[i], w), dims[i], f"fc.{i}.weight")
        bn = bias(w, f"fc.{i}.bias")
        last = i == args.layers - 1
        nodes.append(helper.make_node("MatMul", [x, wn], [f"fc.{i}.mm"], name=f"fc.{i}/MatMul"))
        out = "y" if last else f"fc.{i}.add"
        nodes.append(helper.make_node("Add", [f"fc.{i}.mm", bn], [out], name=f"fc.{i}/Add"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"fc.{i}.relu"], name=f"fc.{i}/Relu"))
            x = f"fc.{i}.relu"
    graph = helper.make_graph(
        nodes, "compress_bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", w])],
        initializer=inits,
        doc_string=f"{args.convs} Conv + {args.layers} x (MatMul + Add + Relu), width {w}, seed {args.seed}",
    )
    model = helper.make_model(graph, producer_name="modelpress-bench-compress", producer_version="1",
                              opset_imports=[helper.make_opsetid("", params["opset"])])
    model.ir_version = 8
    onnx.checker.check_model(model)
    n_params = sum(int(np.prod(t.dims)) for t in inits)
    onnx.save_model(model, path)
    del model, inits
    # onnxruntime must run it
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": np.random.default_rng(1).standard_normal((1, 64, 16, 16), dtype=np.float32)})[0]
    if y.shape != (1, w) or not np.all(np.isfinite(y)):
        print(f"bench-compress: onnxruntime output {y.shape}, finite={np.all(np.isfinite(y))}", file=sys.stderr)
        return 1
    params["parameters"] = n_params
    params["bytes"] = os.path.getsize(path)
    with open(stamp, "w") as f:
        json.dump(params, f)
    print(f"bench-compress: generated {path} ({n_params:,} parameters, {os.path.getsize(path):,} bytes; "
          f"onnxruntime runs it) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# run


def try_measure(argv, timeout):
    """(wall s, peak RSS bytes, None) or (None, None, error text)."""
    try:
        wall, rss = B.measure(argv, timeout=timeout)
        return wall, rss, None
    except SystemExit as e:  # measure() exits on a non-zero status (a crash, a kill by the timeout)
        return None, None, str(e).strip()


def cmd_run(args):
    t_start = time.perf_counter()
    binary, work = args.bin, args.dir
    here = os.path.abspath(__file__)
    repo = os.path.dirname(os.path.dirname(here))

    gen = [args.python, here, "generate", work, "--layers", str(args.layers), "--width", str(args.width),
           "--convs", str(args.convs), "--seed", str(args.seed)]
    t0 = time.perf_counter()
    subprocess.run(gen, check=True)
    gen_seconds = time.perf_counter() - t0
    model = os.path.join(work, MODEL_NAME)
    meta = json.load(open(model + ".params.json"))
    size = os.path.getsize(model)

    commands = [BASELINE] + [(p, p) for p in PASSES]
    modes = [("1 core", ["--single-thread"]), ("all cores", [])]
    results = {}  # (pipeline, mode) -> dict
    failures = []
    for label, pipeline in commands:
        for mode, flags in modes:
            key = (pipeline, mode)
            r = {"walls": [], "rss": [], "report": None, "error": None}
            results[key] = r
            # warm-up (untimed): also writes the report that says how many weights the pass processed
            rep = os.path.join(work, "report.json")
            if os.path.exists(rep):
                os.remove(rep)
            argv = [binary, "compress", model, "--passes", pipeline, "-q", *flags]
            t = time.perf_counter()
            _, _, err = try_measure(argv + ["--report", rep], args.timeout)
            warm = time.perf_counter() - t
            if err:
                r["error"] = err
                failures.append(f"`{' '.join(argv)}`: {err.splitlines()[0][:300]}")
                print(f"bench-compress: FAILED {pipeline} ({mode}): {err[:500]}", file=sys.stderr)
                continue
            r["report"] = json.load(open(rep))["totals"]
            runs = args.runs
            if warm * runs > args.budget_per_command:
                runs = max(1, int(args.budget_per_command // max(warm, 1e-3)))
                r["reduced"] = runs
            for i in range(runs):
                wall, rss, err = try_measure(argv, args.timeout)
                if err:
                    r["error"] = err
                    failures.append(f"`{' '.join(argv)}` (run {i + 1}): {err.splitlines()[0][:300]}")
                    break
                r["walls"].append(wall)
                r["rss"].append(rss)
                print(f"bench-compress: {pipeline:45} {mode:9} run {i + 1}/{runs} {wall:7.3f} s "
                      f"{rss / 1e6:7.0f} MB", file=sys.stderr, flush=True)
    total_seconds = time.perf_counter() - t_start

    # markdown
    info = B.machine_info(work)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = B.sh([binary, "--version"])
    git = B.sh(["git", "-C", repo, "describe", "--always", "--dirty", "--abbrev=12"])

    def med(key, field):
        v = results[key][field]
        return statistics.median(v) if v else None

    base = {m: med((BASELINE[1], m), "walls") for m, _ in modes}
    lines = [BEGIN, "", SECTION_INTRO, f"### Results ({now})", ""]
    lines += [
        f"- Machine: {info['cpu']}, {info['nproc']} cores (usable {info['nproc_available']}), {info['memory']} memory, "
        f"{info['kernel']}; other jobs may share the cores",
        f"- Binary: modelpress {version} ({args.label or binary}); repository at `{git}`",
        f"- Model: `{MODEL_NAME}`, {meta['parameters']:,} float32 parameters ({size / 1e6:.0f} MB): "
        f"{meta['convs']} Conv 3x3 layers, then {meta['layers']} x (MatMul + Add + Relu) of width {meta['width']}; "
        f"seed {meta['seed']}; normal weights (He scale) with 0.01% 6x outliers; generated with `onnx` "
        f"(took {gen_seconds:.0f} s, or 0 when reused)",
        f"- Method: page cache warm; per command one untimed warm-up run (with `--report`, for the weight count) "
        f"then {args.runs} measured runs (fewer where noted, to keep the script near {args.budget_per_command:.0f} s "
        "per command); the table gives medians. Peak RSS is the child's `ru_maxrss` (`wait4`). "
        "pass s = wall - baseline wall (same thread setting); below "
        f"{NOISE_S} s it is within the run-to-run noise of loading the model, so no rate or speed-up is given.",
        "",
        "| pipeline | weights | ratio | wall s, 1 core | wall s, all cores | pass s, 1 core | pass s, all cores "
        "| M weights/s, 1 core | M weights/s, all cores | speed-up | peak RSS MB, 1 core | peak RSS MB, all cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, pipeline in commands:
        cells = [f"`{pipeline}`" if pipeline != BASELINE[1] else f"{BASELINE[0].split(':')[0]} `{pipeline}`"]
        r1, ra = results[(pipeline, "1 core")], results[(pipeline, "all cores")]
        totals = r1["report"] or ra["report"] or {}
        weights = totals.get("processedElements")
        cells.append(f"{weights / 1e6:.1f} M" if weights is not None else "-")
        cells.append(f"{totals['ratio']:.2f}" if "ratio" in totals else "-")
        walls = [med((pipeline, m), "walls") for m, _ in modes]
        cells += [f"{w:.2f}" if w is not None else ("FAILED" if results[(pipeline, m)]["error"] else "-")
                  for w, (m, _) in zip(walls, modes)]
        passes = []
        for w, (m, _) in zip(walls, modes):
            passes.append(None if w is None or base[m] is None else w - base[m])
        if pipeline == BASELINE[1]:
            cells += ["-", "-", "-", "-", "-"]
        else:
            cells += [f"{p:.2f}" if p is not None else "-" for p in passes]
            for p in passes:
                if p is None or not weights:
                    cells.append("-")
                elif p <= NOISE_S:
                    cells.append("(noise)")
                else:
                    cells.append(f"{weights / p / 1e6:,.0f}")
            cells.append(
                f"{passes[0] / passes[1]:.2f}x"
                if passes[0] and passes[1] and passes[0] > NOISE_S and passes[1] > NOISE_S else "-")
        for m, _ in modes:
            rss = med((pipeline, m), "rss")
            cells.append(f"{rss / 1e6:,.0f}" if rss is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    reduced = [f"`{p}` ({m}): {r['reduced']} run(s)" for (p, m), r in results.items() if r.get("reduced")]
    if reduced:
        lines += ["", "Fewer measured runs (slow commands): " + "; ".join(reduced) + "."]
    if failures:
        lines += ["", "**Failures:**", ""] + [f"- {f}" for f in failures]
    lines += ["", "<details><summary>Every measured run</summary>", "",
              "| pipeline | threads | wall s (each run) | peak RSS MB (each run) |", "|---|---|---|---|"]
    for (p, m), r in results.items():
        lines.append(f"| `{p}` | {m} | {' '.join(f'{x:.3f}' for x in r['walls'])} | "
                     f"{' '.join(f'{x / 1e6:.0f}' for x in r['rss'])} |")
    lines += ["", "</details>", "", f"Whole script: {total_seconds / 60:.1f} min (without the release build).", "",
              END]
    section = "\n".join(lines)

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
    print(f"bench-compress: wrote {md_path} in {total_seconds / 60:.1f} min", file=sys.stderr)
    print(section)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def model_args(p):
        p.add_argument("--layers", type=int, default=23, help="MatMul layers (the first is 512 x width)")
        p.add_argument("--width", type=int, default=2048)
        p.add_argument("--convs", type=int, default=3, help="Conv 3x3 layers in the stem (at most 4)")
        p.add_argument("--seed", type=int, default=20240607)

    g = sub.add_parser("generate")
    g.add_argument("dir")
    model_args(g)
    r = sub.add_parser("run")
    r.add_argument("--bin", required=True)
    r.add_argument("--label", default="")
    r.add_argument("--python", default=sys.executable)
    r.add_argument("--dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--timeout", type=float, default=300, help="seconds allowed for one command")
    r.add_argument("--budget-per-command", type=float, default=40,
                   help="measured runs of one command are reduced to stay near this many seconds")
    model_args(r)
    args = ap.parse_args()
    return {"generate": cmd_generate, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
