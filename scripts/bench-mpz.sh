#!/usr/bin/env bash
# Benchmarks `.mpz` compression: `modelpress compress --preset lossless|balanced|small` and
# `modelpress decompress` on every real model (the fixtures) and on a generated ~1 GB float32 ONNX model, against
# zstd -19, xz -9, onnxruntime's quantize_dynamic and onnxconverter-common's fp16 conversion on the same
# files in the same run; Huffman-coded bits against entropy; `mpbench` coder throughput; the graph
# section against zstd/xz. Writes BENCHMARKS.md between <!-- bench-mpz:begin --> and <!-- bench-mpz:end -->.
#
# Environment:
#   MODELPRESS_BIN    modelpress binary to measure (default: build the working tree in release mode with
#                     --scratch-path $SCRATCH)
#   MPBENCH_BIN       mpbench binary (default: built the same way)
#   SCRATCH           scratch dir of that build (default: .build-bench)
#   MODELPRESS_LABEL  how BENCHMARKS.md names the binary measured (default: from the above)
#   PYTHON            Python with onnx, numpy and onnxruntime (default: .venv/bin/python; `make deps`);
#                     scripts/requirements-bench.txt (onnxconverter-common) is installed into it
#   MODELPRESS_FIXTURES the fixture folder holding models/ (default: .fixtures; `make fixtures` fills it)
#   BENCH_DIR         where the generated model is kept and outputs are written (default: bench-out/)
#   RUNS              measured runs per command after one warm-up run (default: 3)
#   BUDGET            seconds of measured runs per command before RUNS is reduced for it (default: 60)
#   TIMEOUT           seconds allowed for one command before it is killed and reported (default: 1800)
#   BIG=0             skip the generated model (its zstd -19 and xz -9 take most of the ~25 minutes)
#   FC, WIDTH, CONVS, SEED  generated model shape (default: 3 Conv layers then 15 fully connected layers
#                     of width 4096: ~241M parameters, 0.96 GB)
#   HUFFMAN_SYMBOLS   mpbench huffman --symbols (default: mpbench's own, 64 Mi)
#   KEEP=0            delete the generated model at the end (default: keep it for the next run)
#   BENCH_OUT         Markdown file to update (default: BENCHMARKS.md)
# Needs ~6 GB of free disk in BENCH_DIR and ~8 GB of free memory; takes ~25 minutes on 2 cores (xz -9 -T0
# of the 1 GB model alone ~11 min, zstd -19 -T0 ~5 min; BIG=0: ~4 min)
# (generating the model once adds about a minute).
# Exit status 1 when any measured command failed (the section still gets written, naming it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-.venv/bin/python}
BENCH_DIR=${BENCH_DIR:-bench-out}
SCRATCH=${SCRATCH:-.build-bench}
MODELPRESS_FIXTURES=${MODELPRESS_FIXTURES:-$ROOT/.fixtures}
RUNS=${RUNS:-3}
BUDGET=${BUDGET:-60}
TIMEOUT=${TIMEOUT:-1800}
BIG=${BIG:-1}
FC=${FC:-15}
WIDTH=${WIDTH:-4096}
CONVS=${CONVS:-3}
SEED=${SEED:-20240611}
HUFFMAN_SYMBOLS=${HUFFMAN_SYMBOLS:-0}
KEEP=${KEEP:-1}
BENCH_OUT=${BENCH_OUT:-BENCHMARKS.md}

die() { echo "bench-mpz: $*" >&2; exit 1; }
START=$(date +%s)

[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no Python at $PYTHON; run 'make deps' to create .venv, or set PYTHON"
"$PYTHON" -c 'import onnx, numpy, onnxruntime' 2>/dev/null ||
    die "$PYTHON cannot import onnx, numpy and onnxruntime; run 'make deps' or set PYTHON"
# The fp16 peer (pinned; leaves the interop test requirements alone).
# Already satisfied pins are not fetched again, so this is quick after the first time.
"$PYTHON" -m pip install -q -r scripts/requirements-bench.txt >&2 ||
    die "cannot install scripts/requirements-bench.txt into $PYTHON"
for tool in zstd xz; do command -v "$tool" >/dev/null 2>&1 || die "needs $tool (apt-get install zstd xz-utils)"; done
[ -d "$MODELPRESS_FIXTURES/models/onnx" ] || die "no models in $MODELPRESS_FIXTURES/models; run 'make fixtures' or set MODELPRESS_FIXTURES"
MODELPRESS_FIXTURES=$(cd "$MODELPRESS_FIXTURES" && pwd)

# Disk: the generated model (~1 GB) and, at once, its .mpz, decompressed copy, zstd/xz output and the peers'.
mkdir -p "$BENCH_DIR"
free_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
[ "$BIG" = 0 ] || [ "$free_kb" -gt $((6 * 1024 * 1024)) ] ||
    die "needs 6 GiB free disk in $BENCH_DIR (df -h $BENCH_DIR), or BIG=0"

build() {  # build PRODUCT [--package-path P --scratch-path S]
    # Other people may be editing sources: a build can fail when a file changes under it; retry.
    local product=$1
    shift
    local where=("$@")
    [ ${#where[@]} -gt 0 ] || where=(--scratch-path "$SCRATCH")
    for attempt in 1 2 3; do
        if swift build -c release "${where[@]}" --product "$product" >&2; then return 0; fi
        [ "$attempt" -lt 3 ] || die "release build of $product failed"
        sleep 10
    done
}
if [ -n "${MODELPRESS_BIN:-}" ]; then
    LABEL=${MODELPRESS_LABEL:-"prebuilt ${MODELPRESS_BIN#"$ROOT"/}"}
else
    echo "bench-mpz: swift build -c release --scratch-path $SCRATCH --product modelpress" >&2
    build modelpress
    MODELPRESS_BIN=$ROOT/$SCRATCH/release/modelpress
    LABEL=${MODELPRESS_LABEL:-"release build of the working tree at \`$(git describe --always --dirty --abbrev=12)\`"}
fi
if [ -n "${MPBENCH_BIN:-}" ]; then
    MPBENCH_LABEL="prebuilt ${MPBENCH_BIN#"$ROOT"/}"
else
    echo "bench-mpz: swift build -c release --package-path Benchmarks --scratch-path $SCRATCH-bench --product mpbench" >&2
    build mpbench --package-path Benchmarks --scratch-path "$SCRATCH-bench"
    MPBENCH_BIN=$ROOT/$SCRATCH-bench/release/mpbench
    MPBENCH_LABEL="release build, same tree"
fi
[ -x "$MODELPRESS_BIN" ] || die "MODELPRESS_BIN=$MODELPRESS_BIN is not an executable"
[ -x "$MPBENCH_BIN" ] || die "MPBENCH_BIN=$MPBENCH_BIN is not an executable"
MODELPRESS_BIN=$(cd "$(dirname "$MODELPRESS_BIN")" && pwd)/$(basename "$MODELPRESS_BIN")
MPBENCH_BIN=$(cd "$(dirname "$MPBENCH_BIN")" && pwd)/$(basename "$MPBENCH_BIN")

cleanup() {
    rm -rf "$BENCH_DIR"/mpz-work
    if [ "$KEEP" != 1 ]; then
        rm -f "$BENCH_DIR"/mpz-bench.onnx "$BENCH_DIR"/mpz-bench.onnx.params.json
        rmdir "$BENCH_DIR" 2>/dev/null || true
    fi
}
trap cleanup EXIT

status=0
"$PYTHON" scripts/bench_mpz.py run \
    --bin "$MODELPRESS_BIN" --mpbench "$MPBENCH_BIN" --label "$LABEL" --mpbench-label "$MPBENCH_LABEL" \
    --python "$PYTHON" --shared "$MODELPRESS_FIXTURES" --dir "$BENCH_DIR" --out "$BENCH_OUT" \
    --runs "$RUNS" --budget "$BUDGET" --timeout "$TIMEOUT" --big "$BIG" --huffman-symbols "$HUFFMAN_SYMBOLS" \
    --fc "$FC" --width "$WIDTH" --convs "$CONVS" --seed "$SEED" >/dev/null || status=$?

echo "bench-mpz: done in $(($(date +%s) - START)) s; results in $BENCH_OUT" >&2
exit "$status"
