#!/usr/bin/env bash
# Benchmarks the compression passes of `modelpress compress` on a seeded ~100M-parameter float32
# ONNX model (one core and all cores, against a load + analysis baseline) and writes the results
# into BENCHMARKS.md between <!-- bench-compress:begin --> and <!-- bench-compress:end -->.
#
# Environment:
#   MODELPRESS_BIN    modelpress binary to measure (default: build the working tree in release mode
#                     with --scratch-path $SCRATCH)
#   SCRATCH           scratch dir of that build (default: .build-cbench)
#   MODELPRESS_LABEL  how BENCHMARKS.md names the binary measured (default: from the above)
#   PYTHON            Python with onnx, numpy and onnxruntime (default: .venv/bin/python; `make deps`)
#   BENCH_DIR         where the model is generated and kept (default: bench-out/, git-ignored)
#   RUNS              measured runs per command after one warm-up run (default: 3)
#   BUDGET            seconds of measured runs per command before RUNS is reduced for it (default: 40)
#   TIMEOUT           seconds allowed for one command before it is killed and reported (default: 300)
#   LAYERS, WIDTH, CONVS, SEED  model shape (default: 23 MatMul layers of width 2048 after 3 Conv
#                     layers: ~97M parameters, 388 MB)
#   KEEP=0            delete the generated model at the end (default: keep it for the next run)
#   BENCH_OUT         Markdown file to update (default: BENCHMARKS.md)
# Exit status 1 when any measured command failed (the table still gets written, naming it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-.venv/bin/python}
BENCH_DIR=${BENCH_DIR:-bench-out}
SCRATCH=${SCRATCH:-.build-cbench}
RUNS=${RUNS:-3}
BUDGET=${BUDGET:-40}
TIMEOUT=${TIMEOUT:-300}
LAYERS=${LAYERS:-23}
WIDTH=${WIDTH:-2048}
CONVS=${CONVS:-3}
SEED=${SEED:-20240607}
KEEP=${KEEP:-1}
BENCH_OUT=${BENCH_OUT:-BENCHMARKS.md}

die() { echo "bench-compress: $*" >&2; exit 1; }
START=$(date +%s)

[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no Python at $PYTHON; run 'make deps' to create .venv, or set PYTHON"
"$PYTHON" -c 'import onnx, numpy, onnxruntime' 2>/dev/null ||
    die "$PYTHON cannot import onnx, numpy and onnxruntime; run 'make deps' or set PYTHON"

# Disk: the model (~0.4 GB); memory: modelpress holds the model plus its compressed copy.
mkdir -p "$BENCH_DIR"
free_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
[ "$free_kb" -gt $((1024 * 1024)) ] || die "needs 1 GiB free disk in $BENCH_DIR (df -h $BENCH_DIR)"

if [ -n "${MODELPRESS_BIN:-}" ]; then
    LABEL=${MODELPRESS_LABEL:-"prebuilt ${MODELPRESS_BIN#"$ROOT"/}"}
else
    echo "bench-compress: swift build -c release --scratch-path $SCRATCH" >&2
    # Other people may be editing sources: a build can fail when a file changes under it; retry.
    for attempt in 1 2 3; do
        if swift build -c release --scratch-path "$SCRATCH" -Xswiftc -warnings-as-errors >&2; then break; fi
        [ "$attempt" -lt 3 ] || die "release build failed"
        sleep 10
    done
    MODELPRESS_BIN=$ROOT/$SCRATCH/release/modelpress
    LABEL=${MODELPRESS_LABEL:-"release build of the working tree at \`$(git describe --always --dirty --abbrev=12)\`"}
fi
[ -x "$MODELPRESS_BIN" ] || die "MODELPRESS_BIN=$MODELPRESS_BIN is not an executable"
MODELPRESS_BIN=$(cd "$(dirname "$MODELPRESS_BIN")" && pwd)/$(basename "$MODELPRESS_BIN")

cleanup() {
    rm -f "$BENCH_DIR"/report.json
    if [ "$KEEP" != 1 ]; then
        rm -f "$BENCH_DIR"/compress-bench.onnx "$BENCH_DIR"/compress-bench.onnx.params.json
        rmdir "$BENCH_DIR" 2>/dev/null || true
    fi
}
trap cleanup EXIT

status=0
"$PYTHON" scripts/bench_compress.py run \
    --bin "$MODELPRESS_BIN" --label "$LABEL" --python "$PYTHON" --dir "$BENCH_DIR" --out "$BENCH_OUT" \
    --runs "$RUNS" --budget-per-command "$BUDGET" --timeout "$TIMEOUT" \
    --layers "$LAYERS" --width "$WIDTH" --convs "$CONVS" --seed "$SEED" >/dev/null || status=$?

echo "bench-compress: done in $(($(date +%s) - START)) s; results in $BENCH_OUT" >&2
exit "$status"
