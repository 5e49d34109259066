#!/usr/bin/env python3
"""Keras HDF5 read/write/inspect benchmark: modelpress against h5py.

Driven by scripts/bench-keras.sh; see BENCHMARKS.md. Subcommands:

  generate FILE    (keras venv) write a seeded ~500 MB Keras 3 model with model.save(FILE): a
                   Sequential stack of large Dense layers; reused when FILE and its .params.json
                   say the same shape and seed
  h5py-read FILE   (test venv) open FILE with h5py and read every dataset into memory
  h5py-copy A B    (test venv) h5py read of A and write of B, object by object (a like-for-like
                   read + write next to `modelpress convert`)
  run              time every command on each file, check outputs, write BENCHMARKS.md's section

`run` itself imports neither h5py nor numpy: each measured command is a child process of its own,
measured like scripts/bench_onnx.py does (wall time; peak RSS = that child's ru_maxrss from wait4).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_onnx as B  # noqa: E402 - measure(), machine_info(), sh(): the same method for both

BEGIN = "<!-- bench-keras:begin -->"
END = "<!-- bench-keras:end -->"
BENCH_NAME = "keras-dense-stack.h5"

SECTION_INTRO = """## Keras HDF5 read / write / inspect against `h5py`

`scripts/bench-keras.sh` generates a seeded ~500 MB Keras file with real Keras 3 (a `Sequential`
stack of large `Dense` layers, float32, saved with `model.save('x.h5')`; cached in `bench-out/`) and
times, side by side in the same run, `modelpress inspect` / `inspect --json` (read) and `modelpress
convert x.h5 y.h5` (read + write) against h5py reading every dataset of the same file and h5py
copying it object by object (read + write), on that file and on the largest shared Keras model
(`k3_mobilenetv2.h5`). The `system` rows are this machine's floors (page-cache read, copy).

Rerun with:

    scripts/bench-keras.sh                       # builds the working tree into .build-bench/ first
    MODELPRESS_BIN=path/to/modelpress scripts/bench-keras.sh
    RUNS=5 scripts/bench-keras.sh                # more rounds (median is reported)
    NO_MODELPRESS=1 scripts/bench-keras.sh       # only the h5py/system rows, printed, BENCHMARKS.md untouched

It needs `.venv` and `.venv-keras` (`make deps keras-deps`), about 3 GB of free disk and 3 GB of
free memory.
"""


# ---------------------------------------------------------------------------------------------
# generate (keras venv)


def bench_params(args) -> dict:
    return {"layers": args.layers, "width": args.width, "seed": args.seed, "version": 1}


def cmd_generate(args) -> int:
    params = bench_params(args)
    stamp = args.file + ".params.json"
    if os.path.exists(args.file) and os.path.exists(stamp):
        try:
            old = json.load(open(stamp))
        except ValueError:
            old = None
        if old and old.get("params") == params:
            print(f"bench: reusing {args.file} ({params})", file=sys.stderr)
            return 0
    for p in (args.file, stamp):
        if os.path.exists(p):
            os.remove(p)
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import keras
    import numpy as np

    if keras.backend.backend() != "jax":
        print(f"bench: Keras came up with backend {keras.backend.backend()}, not jax", file=sys.stderr)
        return 1
    keras.utils.set_random_seed(args.seed)
    w = args.width
    layers = [keras.Input((w,), name="features")]
    for i in range(args.layers):
        last = i == args.layers - 1
        layers.append(keras.layers.Dense(w, activation=None if last else "relu", name=f"dense_{i}"))
    model = keras.Sequential(layers, name="bench_dense_stack")
    # Seeded normal weights scaled like He init (Keras' own initializers are seeded too; this is
    # explicit so the file does not depend on initializer defaults).
    rng = np.random.default_rng(args.seed)
    for layer in model.layers:
        kernel = (rng.standard_normal((w, w), dtype=np.float32) * np.float32(np.sqrt(2.0 / w))).astype(np.float32)
        bias = (rng.standard_normal(w, dtype=np.float32) * np.float32(0.01)).astype(np.float32)
        layer.set_weights([kernel, bias])
        del kernel, bias
    n_params = int(model.count_params())
    tmp = args.file + ".tmp.h5"
    model.save(tmp)
    os.replace(tmp, args.file)
    info = {"params": params, "parameters": n_params, "keras": keras.__version__, "backend": "jax",
            "bytes": os.path.getsize(args.file), "seconds": round(time.perf_counter() - t0, 1)}
    with open(stamp, "w") as f:
        json.dump(info, f)
    print(f"bench: generated {args.file}: {n_params:,} parameters, {info['bytes']:,} bytes, "
          f"Keras {keras.__version__}/jax, {info['seconds']} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------
# h5py baselines (test venv)


def cmd_h5py_read(args) -> int:
    import h5py

    # Every dataset is kept in memory, as a loader holding the whole model does.
    arrays = []
    with h5py.File(args.file, "r") as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        for ds in datasets:
            arrays.append(ds[()])
    print(json.dumps({"datasets": len(arrays), "bytes": sum(getattr(a, "nbytes", 0) for a in arrays)}))
    return 0


def cmd_h5py_copy(args) -> int:
    import h5py

    with h5py.File(args.src, "r") as a, h5py.File(args.dst, "w") as b:
        for k in a.attrs:
            b.attrs.create(k, a.attrs[k], dtype=a.attrs.get_id(k).dtype)

        def copy(ga, gb):
            for name in ga:
                obj = ga[name]
                if isinstance(obj, h5py.Group):
                    g = gb.create_group(name)
                    for k in obj.attrs:
                        g.attrs.create(k, obj.attrs[k], dtype=obj.attrs.get_id(k).dtype)
                    copy(obj, g)
                else:
                    d = gb.create_dataset(name, data=obj[()], dtype=obj.dtype)
                    for k in obj.attrs:
                        d.attrs.create(k, obj.attrs[k], dtype=obj.attrs.get_id(k).dtype)

        copy(a, b)
    fd = os.open(args.dst, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return 0


# ---------------------------------------------------------------------------------------------
# run


def commands_for(label, path, work, python, binary, here):
    """(tool, operation, argv, outputs to delete after each run)."""
    mp_out = os.path.join(work, f"out-modelpress-{label}.h5")
    py_out = os.path.join(work, f"out-h5py-{label}.h5")
    cp_out = os.path.join(work, f"out-cp-{label}.bin")
    rows = []
    if binary:
        rows += [
            ("modelpress", "inspect (text report)", [binary, "inspect", path], []),
            ("modelpress", "inspect --json", [binary, "inspect", "--json", path], []),
            ("modelpress", "convert (read + write)", [binary, "convert", path, mp_out, "-q"], [mp_out]),
        ]
    rows += [
        ("h5py", "read every dataset into memory", [python, here, "h5py-read", path], []),
        ("h5py", "read + write object by object + fsync", [python, here, "h5py-copy", path, py_out], [py_out]),
        ("system", "dd bs=1M file to /dev/null (page-cache read)",
         ["dd", f"if={path}", "of=/dev/null", "bs=1M", "status=none"], []),
        ("system", "cp file + fsync (copy)", ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", path, cp_out],
         [cp_out]),
    ]
    return rows


def baseline_commands(python, binary):
    rows = []
    if binary:
        rows.append(("modelpress", "start-up: --version", [binary, "--version"], []))
    rows.append(("h5py", "start-up: import h5py", [python, "-c", "import h5py"], []))
    return rows


def remove(paths):
    for p in paths:
        if os.path.exists(p):
            os.remove(p)


def check_modelpress(binary, path, expected_params, work) -> str:
    """Sanity (outside timing): inspect sees every parameter, convert's output equals the input
    by `h5diff -c`. Returns a sentence for the report; raises SystemExit on failure."""
    r = subprocess.run([binary, "inspect", "--json", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: modelpress inspect --json {path} failed (exit {r.returncode}): "
                         f"{r.stderr.strip()[-500:]}")
    rep = json.loads(r.stdout)
    got = rep.get("parameters", {}).get("elements")
    if expected_params is not None and got != expected_params:
        raise SystemExit(f"bench: modelpress inspect --json {path}: parameters.elements {got}, "
                         f"expected {expected_params}")
    out = os.path.join(work, "check-modelpress.h5")
    remove([out])
    r = subprocess.run([binary, "convert", path, out, "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: modelpress convert {path} failed (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    d = subprocess.run(["h5diff", "-c", path, out], capture_output=True, text=True)
    remove([out])
    if d.returncode != 0 or (d.stdout + d.stderr).strip():
        raise SystemExit(f"bench: h5diff -c {path} <convert output> found differences:\n{(d.stdout + d.stderr)[-2000:]}")
    return f"`h5diff -c` of `modelpress convert` output against `{os.path.basename(path)}`: **no differences**"


def cmd_run(args) -> int:
    t_start = time.perf_counter()
    here = os.path.abspath(__file__)
    repo = os.path.dirname(os.path.dirname(here))
    work = args.dir
    os.makedirs(work, exist_ok=True)
    binary = args.bin or None

    # 1. the generated model (in the keras venv), then the shared one
    bench_file = os.path.join(work, BENCH_NAME)
    gen = [args.keras_python, here, "generate", bench_file, "--layers", str(args.layers), "--width",
           str(args.width), "--seed", str(args.seed)]
    stamp = bench_file + ".params.json"
    before = os.path.getmtime(stamp) if os.path.exists(stamp) else None
    subprocess.run(gen, check=True)
    gen_info = json.load(open(stamp))
    reused = before is not None and os.path.getmtime(stamp) == before
    files = [("generated", bench_file, gen_info.get("parameters"))]
    if args.shared_model:
        if not os.path.isfile(args.shared_model):
            raise SystemExit(f"bench: shared model not found: {args.shared_model} (set SHARED_MODEL)")
        files.append(("mobilenetv2", args.shared_model, None))
    sizes = {label: os.path.getsize(p) for label, p, _ in files}

    # 2. correctness, once, outside timing
    checks = []
    if binary:
        for label, p, n in files:
            checks.append(check_modelpress(binary, p, n, work))

    # 3. timings
    results = []

    def bench(cmds, label):
        data = {i: ([], []) for i in range(len(cmds))}
        for rnd in range(args.warmup + args.runs):
            for i, (tool, op, argv, outs) in enumerate(cmds):
                remove(outs)
                os.sync()
                wall, rss = B.measure(argv)
                remove(outs)
                if rnd >= args.warmup:
                    data[i][0].append(wall)
                    data[i][1].append(rss)
                tag = "warm-up" if rnd < args.warmup else f"run {rnd - args.warmup + 1}/{args.runs}"
                print(f"bench: {label:11} {tag:9} {tool:10} {op:40} {wall:7.3f} s {rss / 1e6:8.0f} MB",
                      file=sys.stderr, flush=True)
        for i, (tool, op, _, _) in enumerate(cmds):
            results.append((tool, op, label, data[i][0], data[i][1]))

    bench(baseline_commands(args.python, binary), "-")
    for label, p, _ in files:
        bench(commands_for(label, p, work, args.python, binary, here), label)
    floor = B.maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))
    total_seconds = time.perf_counter() - t_start

    # 4. markdown
    info = B.machine_info(work)
    versions = {
        "modelpress": B.sh([binary, "--version"]) if binary else "not measured (NO_MODELPRESS=1)",
        "h5py": B.sh([args.python, "-c", "import h5py; print(h5py.__version__, 'HDF5', h5py.version.hdf5_version)"]),
        "python": B.sh([args.python, "-c", "import platform; print(platform.python_version())"]),
        "swift": (B.sh(["swift", "--version"]).splitlines() or ["?"])[0] if binary else "-",
        "git": B.sh(["git", "-C", repo, "describe", "--always", "--dirty", "--abbrev=12"]),
        "libhdf5": B.sh(["dpkg-query", "-W", "-f=${Version}", "libhdf5-dev"]),
    }
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    desc = {
        "generated": f"`{BENCH_NAME}`: {sizes['generated']:,} bytes ({sizes['generated'] / 1e6:.0f} MB), "
                     f"{gen_info.get('parameters', 0):,} float32 parameters: Sequential of {args.layers} x "
                     f"Dense({args.width}) on a {args.width}-wide input, seed {args.seed}, written by Keras "
                     f"{gen_info.get('keras', '?')}/jax `model.save` (generated in {gen_info.get('seconds', '?')} s; "
                     f"{'reused from an earlier run' if reused else 'in this run'})",
    }
    if len(files) > 1:
        desc["mobilenetv2"] = (f"`{os.path.basename(args.shared_model)}` (shared models): {sizes['mobilenetv2']:,} bytes "
                               f"({sizes['mobilenetv2'] / 1e6:.1f} MB), Keras 3.15.1/jax MobileNetV2, 262 weight datasets")
    lines = [BEGIN, "", SECTION_INTRO.rstrip("\n"), "", f"### Results ({now})", ""]
    lines += [
        f"- Machine: {info['cpu']}, nproc {info['nproc']} (usable {info['nproc_available']}), {info['memory']} "
        f"memory, {info['kernel']}, work dir on {info['filesystem']}",
        f"- Versions: modelpress {versions['modelpress']} ({args.label or binary or '-'}; {versions['swift']}); "
        f"repository at `{versions['git']}`; Python {versions['python']}, h5py {versions['h5py']}; Debian libhdf5 "
        f"{versions['libhdf5']}",
    ]
    for label in desc:
        lines.append(f"- {label}: {desc[label]}")
    lines += [
        f"- Method: page cache warm; per file {args.warmup} warm-up round then {args.runs} measured rounds, each "
        f"round running every command once in turn; the table gives the median. Wall time is the whole process "
        f"(start-up included: see the start-up rows). Peak RSS is the child's `ru_maxrss` (`wait4`; it cannot read "
        f"below the {floor / 1e6:.0f} MB of the driver process the child is forked from). MB/s = file bytes / wall "
        f"time, MB = 10^6 bytes; RSS/size = peak RSS / file bytes. Outputs are deleted before the next command and "
        f"`sync` runs between commands, outside the timing.",
        "- Output check (outside timing): " + ("; ".join(checks) if checks else "none (modelpress not measured)"),
        "",
        "| tool | operation | file | wall s | MB/s | peak RSS MB | RSS/size |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for tool, op, label, walls, rsss in results:
        w, r = statistics.median(walls), statistics.median(rsss)
        if label == "-":
            lines.append(f"| {tool} | {op} | - | {w:.3f} | - | {r / 1e6:,.0f} | - |")
        else:
            size = sizes[label]
            lines.append(f"| {tool} | {op} | {label} | {w:.3f} | {size / 1e6 / w:,.0f} | {r / 1e6:,.0f} | "
                         f"{r / size:.2f} |")
    lines += ["", "<details><summary>Every measured run</summary>", "",
              "| tool | operation | file | wall s (each run) | peak RSS MB (each run) |", "|---|---|---|---|---|"]
    for tool, op, label, walls, rsss in results:
        lines.append(f"| {tool} | {op} | {label} | {' '.join(f'{x:.3f}' for x in walls)} | "
                     f"{' '.join(f'{x / 1e6:.0f}' for x in rsss)} |")
    lines += ["", "</details>", "", f"Whole script: {total_seconds / 60:.1f} min (without the release build).", "", END]
    section = "\n".join(lines)

    if args.out:
        md = args.out
        if os.path.exists(md):
            text = open(md).read()
            if BEGIN in text and END in text:
                a, b = text.index(BEGIN), text.index(END) + len(END)
                text = text[:a] + section + text[b:]
            else:
                text = text.rstrip("\n") + "\n\n" + section + "\n"
        else:
            text = "# Benchmarks\n\n" + section + "\n"
        tmp = md + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, md)
        print(f"bench: wrote {md} in {total_seconds / 60:.1f} min", file=sys.stderr)
    print(section)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def model_args(p):
        p.add_argument("--layers", type=int, default=8)
        p.add_argument("--width", type=int, default=3950, help="8 x Dense(3950): 124.9M params, ~500 MB")
        p.add_argument("--seed", type=int, default=20240601)

    g = sub.add_parser("generate")
    g.add_argument("file")
    model_args(g)
    r = sub.add_parser("h5py-read")
    r.add_argument("file")
    c = sub.add_parser("h5py-copy")
    c.add_argument("src")
    c.add_argument("dst")
    run = sub.add_parser("run")
    run.add_argument("--bin", default="", help="modelpress binary; empty: measure only h5py and system rows")
    run.add_argument("--label", default="")
    run.add_argument("--python", default=sys.executable, help="Python with h5py (the test venv)")
    run.add_argument("--keras-python", required=True, help="Python with Keras 3 + jax (the keras venv)")
    run.add_argument("--shared-model", default="", help="a shared Keras model to measure too")
    run.add_argument("--dir", required=True)
    run.add_argument("--out", default="", help="Markdown file to update; empty: print only")
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("--warmup", type=int, default=1)
    model_args(run)
    args = ap.parse_args()
    return {"generate": cmd_generate, "h5py-read": cmd_h5py_read, "h5py-copy": cmd_h5py_copy, "run": cmd_run}[
        args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
