#!/usr/bin/env bash
# Benchmarks modelpress ONNX read / write / inspect against the Python onnx package on a seeded
# ~1 GB model (inline and external-data variants), and writes the results into BENCHMARKS.md
# between <!-- bench-onnx:begin --> and <!-- bench-onnx:end -->.
#
# Environment:
#   MODELPRESS_BIN  modelpress binary to measure (default: build the working tree in release mode
#                   with --scratch-path .build-bench, a scratch dir of its own)
#   MODELPRESS_REV  instead, build this git revision (e.g. HEAD): `git archive` of it into
#                   .build-bench/src, built there; measures a commit while the tree is being edited
#   MODELPRESS_LABEL  how BENCHMARKS.md names the binary measured (default: from the above)
#   PYTHON          Python with onnx and numpy (default: .venv/bin/python; `make deps` makes it)
#   BENCH_DIR       work dir for the generated models and outputs (default: bench-out/)
#   RUNS, WARMUP    measured rounds and warm-up rounds per file (default: 3 and 1)
#   LAYERS, WIDTH, SEED  model shape (default: 16 layers of 4096x4096 float32, ~1.07 GB)
#   KEEP=1          keep the generated models (a rerun with the same shape reuses them)
#   BENCH_OUT       Markdown file to update (default: BENCHMARKS.md)
#   MIN_FREE_GB     free disk required in BENCH_DIR (default: 5)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-.venv/bin/python}
BENCH_DIR=${BENCH_DIR:-bench-out}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
LAYERS=${LAYERS:-16}
WIDTH=${WIDTH:-4096}
SEED=${SEED:-20240601}
KEEP=${KEEP:-0}
BENCH_OUT=${BENCH_OUT:-BENCHMARKS.md}
MIN_FREE_GB=${MIN_FREE_GB:-5}

die() { echo "bench-onnx: $*" >&2; exit 1; }

START=$(date +%s)

# Python with onnx.
[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no Python at $PYTHON; run 'make deps' to create .venv, or set PYTHON"
"$PYTHON" -c 'import onnx, numpy' 2>/dev/null ||
    die "$PYTHON cannot import onnx and numpy; run 'make deps' or set PYTHON"

# Disk: two ~1 GB models plus one ~1 GB output at a time, plus slack for temporary files.
df_dir=$BENCH_DIR
while [ ! -d "$df_dir" ]; do df_dir=$(dirname "$df_dir"); done
free_kb=$(df -Pk "$df_dir" | awk 'NR == 2 { print $4 }')
have_kb=0  # models kept by an earlier KEEP=1 run count as free
[ ! -d "$BENCH_DIR" ] || have_kb=$(du -sk "$BENCH_DIR" | awk '{ print $1 }')
need_kb=$((MIN_FREE_GB * 1024 * 1024))
if [ $((free_kb + have_kb)) -lt "$need_kb" ]; then
    die "needs ${MIN_FREE_GB} GiB free disk in $BENCH_DIR, has $((free_kb / 1024)) MiB free (df -h $BENCH_DIR); free some space, or set BENCH_DIR to a bigger disk"
fi
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
if [ "${avail_kb:-0}" -gt 0 ] && [ "$avail_kb" -lt $((6 * 1024 * 1024)) ]; then
    echo "bench-onnx: warning: only $((avail_kb / 1024)) MiB memory available; the Python side needs ~6 GiB" >&2
fi
mkdir -p "$BENCH_DIR"

# The binary.
build() {  # build DIR SCRATCH
    # A build can fail when a source changes under it (someone editing); try again a couple of times.
    for attempt in 1 2 3; do
        if (cd "$1" && swift build -c release --scratch-path "$2" >&2); then return 0; fi
        [ "$attempt" -lt 3 ] || die "release build failed"
        sleep 5
    done
}
if [ -n "${MODELPRESS_BIN:-}" ]; then
    LABEL=${MODELPRESS_LABEL:-"prebuilt $MODELPRESS_BIN"}
elif [ -n "${MODELPRESS_REV:-}" ]; then
    sha=$(git rev-parse --verify "$MODELPRESS_REV^{commit}") || die "MODELPRESS_REV=$MODELPRESS_REV is not a commit"
    src=$ROOT/.build-bench/src
    echo "bench-onnx: building commit $sha in $src" >&2
    rm -rf "$src" && mkdir -p "$src"
    git archive "$sha" | tar -x -C "$src"
    # Package.resolved is not committed; reuse the working tree's pins when there are any.
    [ ! -f Package.resolved ] || [ -f "$src/Package.resolved" ] || cp Package.resolved "$src/"
    build "$src" "$ROOT/.build-bench/rev"
    MODELPRESS_BIN=$ROOT/.build-bench/rev/release/modelpress
    LABEL=${MODELPRESS_LABEL:-"release build of commit \`$(git rev-parse --short=12 "$sha")\` ($(git log -1 --format=%s "$sha"))"}
else
    echo "bench-onnx: swift build -c release --scratch-path .build-bench" >&2
    build "$ROOT" "$ROOT/.build-bench"
    MODELPRESS_BIN=$ROOT/.build-bench/release/modelpress
    LABEL=${MODELPRESS_LABEL:-"release build of the working tree at \`$(git describe --always --dirty --abbrev=12)\`"}
fi
[ -x "$MODELPRESS_BIN" ] || die "MODELPRESS_BIN=$MODELPRESS_BIN is not an executable"
MODELPRESS_BIN=$(cd "$(dirname "$MODELPRESS_BIN")" && pwd)/$(basename "$MODELPRESS_BIN")

cleanup() {
    if [ "$KEEP" = 1 ]; then
        echo "bench-onnx: KEEP=1: leaving the models in $BENCH_DIR" >&2
        rm -f "$BENCH_DIR"/out-* "$BENCH_DIR"/check-* "$BENCH_DIR"/.out-* "$BENCH_DIR"/.check-*
    else
        rm -f "$BENCH_DIR"/model-inline.onnx "$BENCH_DIR"/model-external.onnx "$BENCH_DIR"/model-external.onnx.data \
            "$BENCH_DIR"/model-params.json "$BENCH_DIR"/out-* "$BENCH_DIR"/check-* "$BENCH_DIR"/.out-* "$BENCH_DIR"/.check-*
        rmdir "$BENCH_DIR" 2>/dev/null || true
    fi
}
trap cleanup EXIT

"$PYTHON" scripts/bench_onnx.py run \
    --bin "$MODELPRESS_BIN" --label "$LABEL" --python "$PYTHON" --dir "$BENCH_DIR" --out "$BENCH_OUT" \
    --runs "$RUNS" --warmup "$WARMUP" --layers "$LAYERS" --width "$WIDTH" --seed "$SEED" >/dev/null

echo "bench-onnx: done in $(($(date +%s) - START)) s; results in $BENCH_OUT" >&2
