#!/usr/bin/env python3
"""ONNX read/write/inspect benchmark: modelpress against the Python onnx package.

Driven by scripts/bench-onnx.sh; see BENCHMARKS.md. Subcommands:

  generate DIR     write the seeded ~1 GB test model to DIR/model-inline.onnx and, with external
                   data, to DIR/model-external.onnx + DIR/model-external.onnx.data
  verify A B       exit 0 when onnx.load(A) == onnx.load(B) (external data loaded for both)
  run              time every command, check the outputs, write the section of BENCHMARKS.md

`run` never imports onnx or numpy: each measured command is its own child process, and its peak
RSS is the ru_maxrss that os.wait4 reports for that child alone. On Linux a child's ru_maxrss also
counts the memory of the process it was forked from (until exec), so the parent is kept small.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BEGIN = "<!-- bench-onnx:begin -->"
END = "<!-- bench-onnx:end -->"

INTRO = """# Benchmarks

Measured numbers for ModelPress, each section written by the script that produced it. Rerunning a
script replaces its section (between its `<!-- ...:begin -->` / `<!-- ...:end -->` markers) and
leaves the rest of this file alone.

## ONNX read / write / inspect against the Python `onnx` package

`scripts/bench-onnx.sh` generates a seeded ~1 GB ONNX model (an MLP-like chain of
MatMul + Add + Relu with float32 weights), once with every tensor inline in the `.onnx` file and
once with the tensors in one external-data file. On both files it then times, side by side in the
same run, `modelpress inspect` / `inspect --json` / `convert` against `onnx.load` and
`onnx.load` + `onnx.save`, and records wall time and peak resident memory (RSS) of each command.
The `system` rows (`dd`, `cp`) are this machine's floors: reading the file from the page cache,
reading it into freshly allocated memory (the page faults every reader pays once), and copying it.
Peak RSS counts every resident page, including pages of memory-mapped files (page cache, shared,
dropped under memory pressure), so a reader that maps its input shows the touched part of the file
in its RSS even when it allocates next to nothing.

Targets: `convert` (read + write) at >= 1 GB/s, peak RSS <= 1.5x the model size, `inspect` of a
1 GB model well under a second.

Rerun with:

    scripts/bench-onnx.sh                      # builds the working tree into .build-bench/ first
    MODELPRESS_REV=HEAD scripts/bench-onnx.sh  # builds a commit instead (git archive, own scratch dir)
    MODELPRESS_BIN=path/to/modelpress scripts/bench-onnx.sh
    RUNS=5 KEEP=1 scripts/bench-onnx.sh        # more rounds; keep bench-out/ models for the next run

It needs about 5 GB of free disk in the work directory (`BENCH_DIR`, default `bench-out/`) and
about 6 GB of free memory (the output check holds two copies of the model in Python), and takes
about 5 minutes on 2 cores.

"""

MODEL_NAMES = {
    "inline": "model-inline.onnx",
    "external": "model-external.onnx",
}


# ---------------------------------------------------------------------------------------------
# generate / verify (these import onnx; they run as their own processes)


def model_params(args):
    return {"layers": args.layers, "width": args.width, "seed": args.seed, "opset": 17, "version": 1}


def cmd_generate(args):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    os.makedirs(args.dir, exist_ok=True)
    params = model_params(args)
    stamp_path = os.path.join(args.dir, "model-params.json")
    inline = os.path.join(args.dir, MODEL_NAMES["inline"])
    external = os.path.join(args.dir, MODEL_NAMES["external"])
    if (
        os.path.exists(stamp_path)
        and all(os.path.exists(p) for p in (inline, external, external + ".data"))
        and json.load(open(stamp_path)) == params
    ):
        print(f"bench: reusing the models in {args.dir} ({params})", file=sys.stderr)
        return 0
    for p in (stamp_path, inline, external, external + ".data"):
        if os.path.exists(p):
            os.remove(p)

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    w = args.width
    scale = np.float32(1.0 / np.sqrt(w))
    initializers, nodes = [], []
    x = "x"
    for i in range(args.layers):
        weight = (rng.standard_normal((w, w), dtype=np.float32) * scale).astype(np.float32, copy=False)
        bias = (rng.standard_normal(w, dtype=np.float32) * np.float32(0.01)).astype(np.float32, copy=False)
        # from_array stores the bytes as raw_data, as exporters do.
        initializers.append(numpy_helper.from_array(weight, f"layers.{i}.weight"))
        initializers.append(numpy_helper.from_array(bias, f"layers.{i}.bias"))
        del weight, bias
        last = i == args.layers - 1
        mm, added = f"layers.{i}.matmul_out", ("y" if last else f"layers.{i}.add_out")
        nodes.append(helper.make_node("MatMul", [x, f"layers.{i}.weight"], [mm], name=f"layers.{i}/MatMul"))
        nodes.append(helper.make_node("Add", [mm, f"layers.{i}.bias"], [added], name=f"layers.{i}/Add"))
        if not last:
            x = f"layers.{i}.relu_out"
            nodes.append(helper.make_node("Relu", [added], [x], name=f"layers.{i}/Relu"))
    graph = helper.make_graph(
        nodes,
        "bench_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", w])],
        initializer=initializers,
        doc_string=f"{args.layers}-layer MLP, width {w}, seed {args.seed}",
    )
    model = helper.make_model(
        graph,
        producer_name="modelpress-bench",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", params["opset"])],
        doc_string="Synthetic benchmark model made by ModelPress scripts/bench_onnx.py",
    )
    model.ir_version = 8
    model.model_version = 1
    helper.set_model_props(model, {"seed": str(args.seed), "layers": str(args.layers), "width": str(w)})
    onnx.checker.check_model(model)
    size = model.ByteSize()
    if size >= 2**31:
        print(f"bench: the inline model would be {size} bytes, not under 2 GiB; lower --layers/--width",
              file=sys.stderr)
        return 1
    onnx.save_model(model, inline)
    # save_model with external data rewrites the tensors in `model` in place: inline file first.
    onnx.save_model(
        model,
        external,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=MODEL_NAMES["external"] + ".data",
        size_threshold=1024,
    )
    inline_size = os.path.getsize(inline)
    assert inline_size < 2**31, inline_size
    with open(stamp_path, "w") as f:
        json.dump(params, f)
    print(
        f"bench: generated {inline} ({inline_size} bytes) and {external} + .data "
        f"({os.path.getsize(external)} + {os.path.getsize(external + '.data')} bytes) "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def cmd_verify(args):
    import onnx

    a = onnx.load(args.a)  # loads external data into raw_data and clears the locations
    b = onnx.load(args.b)
    if a == b:
        print(f"bench: {args.b} loads with onnx and equals {args.a}", file=sys.stderr)
        return 0
    # Say where they differ, cheaply.
    for field in ("ir_version", "producer_name", "opset_import", "metadata_props"):
        if getattr(a, field) != getattr(b, field):
            print(f"bench: {field} differs", file=sys.stderr)
    ia, ib = a.graph.initializer, b.graph.initializer
    if len(ia) != len(ib):
        print(f"bench: {len(ia)} vs {len(ib)} initializers", file=sys.stderr)
    for ta, tb in zip(ia, ib):
        if ta != tb:
            print(f"bench: initializer {ta.name!r} differs", file=sys.stderr)
            break
    if a.graph.node != b.graph.node:
        print("bench: nodes differ", file=sys.stderr)
    print(f"bench: FAIL: onnx.load({args.b}) != onnx.load({args.a})", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------
# run


def maxrss_bytes(ru):
    # Linux reports KiB, macOS bytes.
    return ru.ru_maxrss if sys.platform == "darwin" else ru.ru_maxrss * 1024


def measure(argv, stdout_path=os.devnull, timeout=1800):
    """Runs argv as a fresh child; returns (wall seconds, peak RSS bytes of that child)."""
    with open(stdout_path, "wb") as out, open(os.devnull, "rb") as devnull, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=err, close_fds=True)
        killer = threading.Timer(timeout, p.kill)
        killer.start()
        try:
            # wait4 gives this one child's rusage (RUSAGE_CHILDREN would be the max over all children).
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if p.returncode != 0:
            err.seek(0)
            msg = err.read().decode(errors="replace")
            raise SystemExit(f"bench: exit status {p.returncode} after {wall:.1f} s: {shlex.join(argv)}\n{msg}")
    return wall, maxrss_bytes(ru)


def remove_outputs(paths):
    for p in paths:
        for q in (p, p + ".data"):
            if os.path.exists(q):
                os.remove(q)


def model_bytes(path):
    n = os.path.getsize(path)
    if os.path.exists(path + ".data"):
        n += os.path.getsize(path + ".data")
    return n


def py_cmd(python, code):
    return [python, "-c", code]


def commands_for(variant, path, out_dir, python, binary):
    """(tool, operation, argv, outputs to delete after each run)."""
    mp_out = os.path.join(out_dir, f"out-modelpress-{variant}.onnx")
    py_out = os.path.join(out_dir, f"out-python-{variant}.onnx")
    load = f"import onnx; m = onnx.load({path!r})"
    if variant == "external":
        save = (f"onnx.save_model(m, {py_out!r}, save_as_external_data=True, all_tensors_to_one_file=True, "
                f"location={os.path.basename(py_out) + '.data'!r}, size_threshold=1024)")
    else:
        save = f"onnx.save_model(m, {py_out!r})"
    fsync = (f"; import os\nfor q in ({py_out!r}, {py_out + '.data'!r}):\n"
             f"    if os.path.exists(q): fd = os.open(q, os.O_RDONLY); os.fsync(fd); os.close(fd)")
    return [
        ("modelpress", "inspect (text report)", [binary, "inspect", path], []),
        ("modelpress", "inspect --json", [binary, "inspect", "--json", path], []),
        ("modelpress", "inspect --tensors (statistics of every tensor)", [binary, "inspect", "--tensors", path], []),
        ("modelpress", "convert (read + write)", [binary, "convert", path, mp_out, "-q"], [mp_out]),
        ("python onnx", "onnx.load (read)", py_cmd(python, load), []),
        ("python onnx", "onnx.load + onnx.save (read + write)", py_cmd(python, f"{load}; {save}"), [py_out]),
        ("python onnx", "load + save + fsync", py_cmd(python, f"{load}; {save}{fsync}"), [py_out]),
    ]


def system_commands(variant, path, out_dir):
    """Floors for this machine: page-cache read, read into fresh memory, file copy."""
    data = path + ".data" if variant == "external" else path
    cp_out = os.path.join(out_dir, f"out-cp-{variant}.bin")
    name = "`.data`" if variant == "external" else "file"
    return [
        ("system", f"dd bs=1M {name} to /dev/null (page-cache read)",
         ["dd", f"if={data}", "of=/dev/null", "bs=1M", "status=none"], []),
        ("system", f"dd bs=1G {name} to /dev/null (read into 1 GiB of fresh memory)",
         ["dd", f"if={data}", "of=/dev/null", "bs=1G", "iflag=fullblock", "status=none"], []),
        ("system", f"cp {name} + fsync (copy)", ["sh", "-c", f'cp "$1" "$2" && sync "$2"', "sh", data, cp_out],
         [cp_out]),
    ]


def baseline_commands(python, binary):
    return [
        ("modelpress", "start-up: --version", [binary, "--version"], []),
        ("python onnx", "start-up: import onnx", py_cmd(python, "import onnx"), []),
    ]


def sh(argv):
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine_info(work_dir):
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    fs = sh(["df", "-PT", work_dir]).splitlines()
    fs = " ".join(fs[-1].split()[:2]) if len(fs) > 1 else "?"
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "nproc_available": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "filesystem": fs,
    }


def fmt_row(tool, op, file, wall, gbps, rss_mb, ratio):
    return f"| {tool} | {op} | {file} | {wall} | {gbps} | {rss_mb} | {ratio} |"


def cmd_run(args):
    t_start = time.perf_counter()
    python, binary, work = args.python, args.bin, args.dir
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    here = os.path.abspath(__file__)

    # 1. models
    gen = [python, here, "generate", work, "--layers", str(args.layers), "--width", str(args.width),
           "--seed", str(args.seed)]
    t0 = time.perf_counter()
    subprocess.run(gen, check=True)
    gen_seconds = time.perf_counter() - t0
    files = {v: os.path.join(work, n) for v, n in MODEL_NAMES.items()}
    sizes = {v: model_bytes(p) for v, p in files.items()}

    # sanity: modelpress sees the whole model
    for v, p in files.items():
        rep = json.loads(subprocess.run([binary, "inspect", "--json", p], check=True, capture_output=True).stdout)
        want_nodes = 3 * args.layers - 1
        if rep["graph"]["nodes"] != want_nodes or rep["parameters"]["tensors"] != 2 * args.layers:
            raise SystemExit(f"bench: modelpress inspect --json {p}: unexpected graph/parameters: "
                             f"{rep['graph']} {rep['parameters']}")
        if rep["parameters"]["bytes"] < 4 * args.layers * args.width * args.width:
            raise SystemExit(f"bench: modelpress inspect --json {p}: parameter bytes {rep['parameters']['bytes']}")

    # 2. correctness of our convert output, once, outside timing
    checks = []
    for v, p in files.items():
        out = os.path.join(work, f"check-modelpress-{v}.onnx")
        remove_outputs([out])
        subprocess.run([binary, "convert", p, out, "-q"], check=True)
        has_data = os.path.exists(out + ".data")
        if (v == "external") != has_data:
            raise SystemExit(f"bench: {out}: external data file {'missing' if not has_data else 'unexpected'}")
        subprocess.run([python, here, "verify", p, out], check=True)
        checks.append(f"`onnx.load` of `modelpress convert` output == `onnx.load` of input ({v}"
                      f"{', output tensors external in `<OUT>.data`' if has_data else ''}): **yes**")
        remove_outputs([out])

    # 3. timings: per file, warm-up rounds then measured rounds, alternating the commands
    results = []  # (tool, op, variant, [walls], [rss])

    def bench(cmds, variant):
        data = {i: ([], []) for i in range(len(cmds))}
        for rnd in range(args.warmup + args.runs):
            for i, (tool, op, argv, outs) in enumerate(cmds):
                remove_outputs(outs)
                os.sync()  # no earlier write-back in anyone's time
                wall, rss = measure(argv)
                remove_outputs(outs)
                if rnd >= args.warmup:
                    data[i][0].append(wall)
                    data[i][1].append(rss)
                label = "warm-up" if rnd < args.warmup else f"run {rnd - args.warmup + 1}/{args.runs}"
                print(f"bench: {variant:8} {label:9} {tool:11} {op:38} {wall:7.3f} s {rss / 1e6:8.0f} MB",
                      file=sys.stderr, flush=True)
        for i, (tool, op, _, _) in enumerate(cmds):
            results.append((tool, op, variant, data[i][0], data[i][1]))

    bench(baseline_commands(python, binary), "-")
    for v, p in files.items():
        bench(commands_for(v, p, work, python, binary) + system_commands(v, p, work), v)
    os.sync()
    # A child's ru_maxrss starts at the RSS of the process it was forked from: this one.
    floor = maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))
    if floor > 64e6:
        print(f"bench: warning: the driver's own peak RSS is {floor / 1e6:.0f} MB; no measured peak RSS "
              "can read lower than that", file=sys.stderr)

    total_seconds = time.perf_counter() - t_start

    # 4. markdown
    info = machine_info(work)
    versions = {
        "modelpress": sh([binary, "--version"]),
        "onnx": sh([python, "-c", "import onnx; print(onnx.__version__)"]),
        "numpy": sh([python, "-c", "import numpy; print(numpy.__version__)"]),
        "python": sh([python, "-c", "import platform; print(platform.python_version())"]),
        "protobuf": sh([python, "-c", "import google.protobuf as p; print(p.__version__)"]),
        "swift": (sh(["swift", "--version"]).splitlines() or ["?"])[0],
        "git": sh(["git", "-C", repo, "describe", "--always", "--dirty", "--abbrev=12"]),
    }
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    file_desc = {
        "inline": f"`{MODEL_NAMES['inline']}`: {sizes['inline']:,} bytes ({sizes['inline'] / 1e9:.3f} GB), "
                  f"every tensor inline as `raw_data`",
        "external": f"`{MODEL_NAMES['external']}` + `.data`: "
                    f"{os.path.getsize(files['external']):,} + {os.path.getsize(files['external'] + '.data'):,} "
                    f"bytes ({sizes['external'] / 1e9:.3f} GB), all tensors >= 1 KiB in one external-data file",
    }

    lines = [BEGIN, "", f"### Results ({now})", ""]
    lines += [
        f"- Machine: {info['cpu']}, nproc {info['nproc']} (usable {info['nproc_available']}), "
        f"{info['memory']} memory, {info['kernel']}, work dir on {info['filesystem']}",
        f"- Versions: modelpress {versions['modelpress']} ({args.label or binary}; {versions['swift']}); "
        f"repository at `{versions['git']}`; Python {versions['python']}, onnx {versions['onnx']}, "
        f"protobuf {versions['protobuf']}, numpy {versions['numpy']}",
        f"- Model: {args.layers} x (MatMul + Add{' + Relu' if args.layers > 1 else ''}), float32 weights "
        f"{args.width}x{args.width} and biases, seed {args.seed}, opset 17, generated with `onnx` "
        f"(generation took {gen_seconds:.0f} s)",
        f"  - inline: {file_desc['inline']}",
        f"  - external: {file_desc['external']}",
        f"- Method: page cache warm; per file {args.warmup} warm-up round then {args.runs} measured rounds, "
        f"each round running every command once in turn; the table gives the median. Wall time is the whole "
        f"process (start-up included: see the start-up rows). Peak RSS is the child's `ru_maxrss` (`wait4`; "
        f"it cannot read below the {floor / 1e6:.0f} MB of the driver process the child is forked from). "
        f"GB/s = model bytes (`.onnx` + `.data`) / wall time, GB = 10^9 bytes, MB = 10^6 bytes; "
        f"RSS/size = peak RSS / model bytes. Every output is deleted before the next command and `sync` runs "
        f"between commands, outside the timing.",
        "- `modelpress convert` fsyncs its output before renaming it into place; `onnx.save` does not, so "
        "`load + save + fsync` adds an fsync of the output files for a like-for-like write.",
        "- Output check (outside timing): " + "; ".join(checks),
        "",
        "| tool | operation | file | wall s | GB/s | peak RSS MB | RSS/size |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    med = {}
    for tool, op, variant, walls, rsss in results:
        w, r = statistics.median(walls), statistics.median(rsss)
        med[(tool, op, variant)] = (w, r)
        if variant == "-":
            lines.append(fmt_row(tool, op, "-", f"{w:.3f}", "-", f"{r / 1e6:,.0f}", "-"))
        else:
            size = sizes[variant]
            lines.append(fmt_row(tool, op, variant, f"{w:.3f}", f"{size / 1e9 / w:.2f}", f"{r / 1e6:,.0f}",
                                 f"{r / size:.2f}"))

    # targets
    def mark(ok):
        return "met" if ok else "**not met**"

    lines += ["", "Targets for `modelpress` (from the medians above):", ""]
    for v in files:
        size = sizes[v]
        cw, cr = med[("modelpress", "convert (read + write)", v)]
        iw, _ = med[("modelpress", "inspect (text report)", v)]
        jw, _ = med[("modelpress", "inspect --json", v)]
        worst_rss = max(r for (tool, _, var), (_, r) in med.items() if tool == "modelpress" and var == v)
        lines.append(
            f"- {v}: read + write >= 1 GB/s: {size / 1e9 / cw:.2f} GB/s, {mark(size / 1e9 / cw >= 1.0)}; "
            f"peak RSS <= 1.5x model size: {worst_rss / size:.2f}x (worst modelpress row), "
            f"{mark(worst_rss / size <= 1.5)}; inspect of ~1 GB well under a second: "
            f"{iw:.3f} s / {jw:.3f} s (--json), {mark(max(iw, jw) < 0.5)} (taken as < 0.5 s)"
        )

    lines += ["", "<details><summary>Every measured run</summary>", "",
              "| tool | operation | file | wall s (each run) | peak RSS MB (each run) |",
              "|---|---|---|---|---|"]
    for tool, op, variant, walls, rsss in results:
        lines.append(f"| {tool} | {op} | {variant} | {' '.join(f'{x:.3f}' for x in walls)} | "
                     f"{' '.join(f'{x / 1e6:.0f}' for x in rsss)} |")
    lines += ["", "</details>", "",
              f"Whole script: {total_seconds / 60:.1f} min (model generation {gen_seconds:.0f} s; without the "
              f"release build).", "", END]
    section = "\n".join(lines)

    md_path = args.out
    if os.path.exists(md_path):
        text = open(md_path).read()
        if BEGIN in text and END in text:
            a = text.index(BEGIN)
            b = text.index(END) + len(END)
            text = text[:a] + section + text[b:]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = INTRO + section + "\n"
    tmp = md_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, md_path)
    print(f"bench: wrote {md_path} in {total_seconds / 60:.1f} min", file=sys.stderr)
    print(section)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def model_args(p):
        p.add_argument("--layers", type=int, default=16)
        p.add_argument("--width", type=int, default=4096)
        p.add_argument("--seed", type=int, default=20240601)

    g = sub.add_parser("generate")
    g.add_argument("dir")
    model_args(g)
    v = sub.add_parser("verify")
    v.add_argument("a")
    v.add_argument("b")
    r = sub.add_parser("run")
    r.add_argument("--bin", required=True)
    r.add_argument("--label", default="", help="how to name the binary in the report")
    r.add_argument("--python", default=sys.executable)
    r.add_argument("--dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--warmup", type=int, default=1)
    model_args(r)
    args = ap.parse_args()
    return {"generate": cmd_generate, "verify": cmd_verify, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
