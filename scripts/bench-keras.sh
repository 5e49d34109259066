#!/usr/bin/env bash
# Benchmarks modelpress Keras HDF5 read (inspect) and read + write (convert) against h5py on a
# seeded ~500 MB Keras 3 file and on the largest shared Keras model, and writes the results into
# BENCHMARKS.md between <!-- bench-keras:begin --> and <!-- bench-keras:end -->.
#
# Environment:
#   MODELPRESS_BIN  modelpress binary to measure (default: build the working tree in release mode
#                   with --scratch-path .build-bench, as scripts/bench-onnx.sh does)
#   MODELPRESS_LABEL  how BENCHMARKS.md names the binary measured
#   NO_MODELPRESS=1 measure only the h5py and system rows (no build); the section is printed and
#                   BENCHMARKS.md is left alone unless BENCH_OUT is set
#   PYTHON          Python with h5py (default: .venv/bin/python; `make deps` makes it)
#   KERAS_PYTHON    Python with Keras 3 + jax for generating the model (default: .venv-keras/bin/python;
#                   `make keras-deps` makes it)
#   SHARED_MODEL    real model measured too (default: .fixtures/models/keras-zoo/k3_mobilenetv2.h5, or under
#                   MODELPRESS_FIXTURES; `make fixtures` writes it;
#                   empty: none)
#   BENCH_DIR       work dir; the generated model is cached there (default: bench-out/)
#   RUNS, WARMUP    measured rounds and warm-up rounds per file (default: 3 and 1)
#   LAYERS, WIDTH, SEED  model shape (default: 8 x Dense(3950), ~500 MB)
#   BENCH_OUT       Markdown file to update (default: BENCHMARKS.md)
#   MIN_FREE_GB     free disk required in BENCH_DIR (default: 3)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-.venv/bin/python}
KERAS_PYTHON=${KERAS_PYTHON:-.venv-keras/bin/python}
SHARED_MODEL=${SHARED_MODEL-${MODELPRESS_FIXTURES:-$ROOT/.fixtures}/models/keras-zoo/k3_mobilenetv2.h5}
BENCH_DIR=${BENCH_DIR:-bench-out}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
LAYERS=${LAYERS:-8}
WIDTH=${WIDTH:-3950}
SEED=${SEED:-20240601}
NO_MODELPRESS=${NO_MODELPRESS:-0}
if [ "$NO_MODELPRESS" = 1 ]; then BENCH_OUT=${BENCH_OUT:-}; else BENCH_OUT=${BENCH_OUT:-BENCHMARKS.md}; fi
MIN_FREE_GB=${MIN_FREE_GB:-3}

die() { echo "bench-keras: $*" >&2; exit 1; }

START=$(date +%s)

"$PYTHON" -c 'import h5py' 2>/dev/null || die "$PYTHON cannot import h5py; run 'make deps' or set PYTHON"
[ -x "$KERAS_PYTHON" ] || die "no Python at $KERAS_PYTHON; run 'make keras-deps' to create .venv-keras, or set KERAS_PYTHON"
KERAS_BACKEND=jax "$KERAS_PYTHON" -c 'import keras, jax' 2>/dev/null ||
    die "$KERAS_PYTHON cannot import keras and jax; run 'make keras-deps' or set KERAS_PYTHON"
command -v h5diff >/dev/null || die "h5diff not found; run 'make deps' (hdf5-tools)"
[ -z "$SHARED_MODEL" ] || [ -f "$SHARED_MODEL" ] || die "SHARED_MODEL=$SHARED_MODEL not found; set SHARED_MODEL (empty: none)"

# Disk: the ~500 MB model, one output at a time, and slack.
df_dir=$BENCH_DIR
while [ ! -d "$df_dir" ]; do df_dir=$(dirname "$df_dir"); done
free_kb=$(df -Pk "$df_dir" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt $((MIN_FREE_GB * 1024 * 1024)) ]; then
    die "needs ${MIN_FREE_GB} GiB free disk in $BENCH_DIR, has $((free_kb / 1024)) MiB; free some, or set BENCH_DIR"
fi
mkdir -p "$BENCH_DIR"

build() {  # build DIR SCRATCH
    for attempt in 1 2 3; do
        if (cd "$1" && swift build -c release --scratch-path "$2" >&2); then return 0; fi
        [ "$attempt" -lt 3 ] || die "release build failed"
        sleep 5
    done
}
LABEL=""
if [ "$NO_MODELPRESS" = 1 ]; then
    MODELPRESS_BIN=""
elif [ -n "${MODELPRESS_BIN:-}" ]; then
    LABEL=${MODELPRESS_LABEL:-"prebuilt ${MODELPRESS_BIN#"$ROOT"/}"}
else
    echo "bench-keras: swift build -c release --scratch-path .build-bench" >&2
    build "$ROOT" "$ROOT/.build-bench"
    MODELPRESS_BIN=$ROOT/.build-bench/release/modelpress
    LABEL=${MODELPRESS_LABEL:-"release build of the working tree at \`$(git describe --always --dirty --abbrev=12)\`"}
fi
if [ -n "$MODELPRESS_BIN" ]; then
    [ -x "$MODELPRESS_BIN" ] || die "MODELPRESS_BIN=$MODELPRESS_BIN is not an executable"
    MODELPRESS_BIN=$(cd "$(dirname "$MODELPRESS_BIN")" && pwd)/$(basename "$MODELPRESS_BIN")
fi

# The generated model stays in BENCH_DIR (bench-out/ is ignored by git) for the next run.
cleanup() { rm -f "$BENCH_DIR"/out-* "$BENCH_DIR"/check-* "$BENCH_DIR"/*.tmp.h5; }
trap cleanup EXIT

"$PYTHON" scripts/bench_keras.py run \
    --bin "$MODELPRESS_BIN" --label "$LABEL" --python "$PYTHON" --keras-python "$KERAS_PYTHON" \
    --shared-model "$SHARED_MODEL" --dir "$BENCH_DIR" --out "$BENCH_OUT" \
    --runs "$RUNS" --warmup "$WARMUP" --layers "$LAYERS" --width "$WIDTH" --seed "$SEED" \
    > "$BENCH_DIR/bench-keras-section.md"
[ -n "$BENCH_OUT" ] || cat "$BENCH_DIR/bench-keras-section.md"

echo "bench-keras: done in $(($(date +%s) - START)) s${BENCH_OUT:+; results in $BENCH_OUT}" >&2
