#!/usr/bin/env python3
"""Load a Keras model file in the Keras that wrote it, predict on deterministic inputs, save both.

Runs in the Keras judge venv (.venv-keras, Tests/interop/requirements-keras.txt), not in the venv
of the test runner:

    keras_predict.py MODEL --out OUT.npz [--weights-into ARCH_MODEL] [--seed N] [--keras auto|2|3]
    keras_predict.py --batch JOBS.json [--seed N] [--keras auto|2|3]

`--batch` runs many jobs (JSON list of {"model", "out", "weights_into"?}) in one process to pay
the framework import once; every model is still loaded from its own file, with
`keras.backend.clear_session()` between jobs. A failed job writes its error line to OUT.err and
the process exits 1 after running the rest.

Which Keras loads MODEL (`--keras auto`, the default): a legacy HDF5 file whose root attribute
`keras_version` is 2.x (Keras 2.0.5 up to tf_keras 2.21) goes to tf_keras (TF_USE_LEGACY_KERAS=1,
tensorflow backend); 3.x, a `.keras` zip, or an HDF5 file without `keras_version` (Keras 3's
`.weights.h5` layout `layers/<name>/vars/<i>`) goes to Keras 3 with the jax backend. With
`--weights-into ARCH`, the architecture is built from the full-model file ARCH (loaded the same
way) and MODEL, a weights-only file, is loaded into it with `model.load_weights(MODEL)`.

Inputs: batch size 2; every None dimension after the batch one becomes the sequence length the
config names (an Embedding's `input_length`) or 16; an input that feeds an Embedding gets integer
token ids in [1, input_dim) (0 is padding for mask_zero), cast to the input's dtype; every other
input gets normal floats from numpy's default_rng(seed) (the same seed gives the same inputs for
any file with the same input specs). Models load with compile=False (optimizer state plays no part
in predict; the HDF5 comparison judges it).

OUT.npz holds in_0..in_N (inputs in model.inputs order), out_0..out_M (outputs: a list in order, a
dict by sorted key) and `meta`, a JSON string: keras flavour and version, backend, input and output
names, whether two predict calls in this process gave bit-identical outputs (`deterministic`),
`weights` ([name, dtype, shape, sha256] of every variable as loaded) and `layer_outputs` ([layer,
sha256] of each top-level layer's outputs on the same inputs, from a probe model; randomly
initialised networks can saturate, so the final outputs alone may not show a changed weight).

Errors: one line on stderr (`keras_predict: MODEL: ...`), exit status 1; exit 64 for bad usage.
The frameworks' own log output goes to /dev/null unless --verbose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile

EXIT_FAIL = 1
EXIT_USAGE = 64
DEFAULT_SEED = 20240601
BATCH = 2
DEFAULT_SEQ = 16

_real_stderr = None  # a dup of fd 2 taken before the frameworks' logs are sent to /dev/null


def fail(model: str, message: str, code: int = EXIT_FAIL) -> None:
    text = " ".join(str(message).split())  # one line
    if len(text) > 600:
        text = text[:600] + "..."
    stream = _real_stderr or sys.stderr
    stream.write(f"keras_predict: {model}: {text}\n")
    stream.flush()
    sys.exit(code)


# ---------------------------------------------------------------------------------------------
# Which Keras


def keras_major_of(path: str) -> int:
    """2 (tf_keras) or 3 (Keras 3), from the file itself."""
    if zipfile.is_zipfile(path):
        return 3
    import h5py

    with h5py.File(path, "r") as f:
        v = f.attrs.get("keras_version")
        if v is None and "model_weights" in f:  # very old files kept it on model_weights only
            v = f["model_weights"].attrs.get("keras_version")
        if v is None:
            if "layers" in f or "vars" in f or path.endswith(".weights.h5"):
                return 3  # Keras 3 weights-only layout
            raise ValueError("no keras_version attribute and not a Keras 3 weights file; pass --keras 2 or 3")
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        v = str(v)
        major = v.split(".", 1)[0]
        if major in ("1", "2"):
            return 2
        if major == "3":
            return 3
        raise ValueError(f"keras_version {v!r} is neither 2.x nor 3.x; pass --keras 2 or 3")


def import_keras(major: int):
    """Import the right Keras; environment first (it must be set before the import)."""
    if major == 2:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        import tf_keras as keras

        return keras, "tensorflow", keras.__version__
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(f"Keras 3 came up with backend {backend!r}, not jax (KERAS_BACKEND is set elsewhere?)")
    return keras, backend, keras.__version__


def load_model(keras, major: int, path: str):
    if major == 2:
        return keras.models.load_model(path, compile=False)
    return keras.saving.load_model(path, compile=False)


# ---------------------------------------------------------------------------------------------
# Inputs


def _iter_layers(model):
    """Every layer, nested models' layers included (depth first)."""
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers") and layer is not model:
            yield from _iter_layers(layer)


def _embedding_feeds(model) -> dict[int, tuple[int, int | None]]:
    """Index in model.inputs -> (input_dim, input_length or None) for inputs that feed an Embedding."""
    ids = {id(t): i for i, t in enumerate(model.inputs)}
    names = {}
    for i, t in enumerate(model.inputs):
        n = getattr(t, "name", None)
        if n:
            names[n] = i
    found: dict[int, tuple[int, int | None]] = {}
    embeddings = [lay for lay in _iter_layers(model) if type(lay).__name__ == "Embedding"]
    for lay in embeddings:
        try:
            inp = lay.input
        except Exception:  # noqa: BLE001 - shared layers have no single input
            continue
        tensors = inp if isinstance(inp, (list, tuple)) else [inp]
        for t in tensors:
            i = ids.get(id(t))
            if i is None:
                i = names.get(getattr(t, "name", None))
            if i is not None:
                dim = int(lay.input_dim)
                length = getattr(lay, "input_length", None)
                prev = found.get(i)
                found[i] = (min(dim, prev[0]) if prev else dim, length if length else (prev[1] if prev else None))
    # Integer inputs that feed an Embedding through something we could not follow: smallest vocab.
    if embeddings:
        vocab = min(int(lay.input_dim) for lay in embeddings)
        for i, t in enumerate(model.inputs):
            if i not in found and str(getattr(t, "dtype", "")).startswith(("int", "uint")):
                found[i] = (vocab, None)
    return found


def make_inputs(model, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    emb = _embedding_feeds(model)
    arrays = []
    for i, t in enumerate(model.inputs):
        shape = list(t.shape)
        dtype = np.dtype(str(getattr(t.dtype, "name", t.dtype)))
        length = emb.get(i, (0, None))[1]
        dims = [BATCH] + [d if d is not None else (int(length) if length else DEFAULT_SEQ) for d in shape[1:]]
        if i in emb:
            vocab = emb[i][0]
            a = rng.integers(1 if vocab > 1 else 0, vocab, size=dims)
        elif dtype.kind in "iu":
            a = rng.integers(0, 10, size=dims)
        elif dtype.kind == "b":
            a = rng.integers(0, 2, size=dims)
        else:
            a = rng.standard_normal(size=dims)
        arrays.append(np.asarray(a).astype(dtype))
    return arrays


# ---------------------------------------------------------------------------------------------


def _outputs_list(out):
    import numpy as np

    if isinstance(out, dict):
        return [np.asarray(out[k]) for k in sorted(out)], sorted(out)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out], None
    return [np.asarray(out)], None


def _digest(arrays) -> str:
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _value(v):
    import numpy as np

    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    return np.asarray(v)


def weight_digests(model) -> list:
    """[name, dtype, shape, sha256] of every variable Keras loaded (trainable or not), in
    model.weights order: what the file gave Keras, whatever the outputs show."""
    out = []
    for v in model.weights:
        a = _value(v)
        out.append([str(getattr(v, "path", None) or v.name), a.dtype.str, list(a.shape), _digest([a])])
    return out


def layer_output_digests(keras, model, feed) -> tuple[list, str | None]:
    """[layer name, sha256 of its outputs] for every top-level layer with one inbound node, from a
    probe model over the same inputs; (digests, None) or ([], why not). A randomly initialised
    network can saturate (MobileNetV2's softmax is exactly uniform on normal inputs), so the final
    outputs alone can miss a changed weight or config; the layers' outputs do not."""
    layers, outputs = [], []
    for layer in model.layers:
        # Nested models: `.output` is the inner graph's tensor, not this graph's (their insides are
        # still covered by the layers downstream, and their weights by `weights`).
        if type(layer).__name__ == "InputLayer" or isinstance(layer, keras.Model):
            continue
        try:
            out = layer.output
        except Exception:  # noqa: BLE001 - shared layers (several inbound nodes) have no single output
            continue
        layers.append(layer.name)
        outputs.append(out)
    if not outputs:
        return [], "no layer with a single output"
    try:
        probe = keras.Model(model.inputs, outputs)
        values = probe.predict(feed, batch_size=BATCH, verbose=0)
    except Exception as e:  # noqa: BLE001
        return [], f"probe model failed: {type(e).__name__}: {str(e)[:200]}"
    if not isinstance(values, (list, tuple)):
        values = [values]
    digests = []
    for name, v in zip(layers, values):
        v = v if isinstance(v, (list, tuple)) else [v]
        digests.append([name, _digest(v)])
    return digests, None


class JobError(Exception):
    """One job's failure, already worded as the one stderr line (without the prefix)."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


def run_job(keras, major: int, backend: str, version: str, model_path: str, out: str,
            weights_into: str | None, seed: int) -> None:
    """Load, predict twice, write OUT.npz; raises JobError."""
    import numpy as np

    if not os.path.isfile(model_path):
        raise JobError(model_path, "no such file")
    if weights_into and not os.path.isfile(weights_into):
        raise JobError(weights_into, "no such file (--weights-into)")
    try:
        if weights_into:
            model = load_model(keras, major, weights_into)
            model.load_weights(model_path)
        else:
            model = load_model(keras, major, model_path)
    except Exception as e:  # noqa: BLE001
        raise JobError(model_path, f"Keras {version} ({backend}) cannot load it: {type(e).__name__}: {e}") from e
    try:
        inputs = make_inputs(model, seed)
        feed = inputs if len(inputs) != 1 else inputs[0]
        first = model.predict(feed, batch_size=BATCH, verbose=0)
        second = model.predict(feed, batch_size=BATCH, verbose=0)
    except Exception as e:  # noqa: BLE001
        raise JobError(model_path, f"predict fails in Keras {version} ({backend}): {type(e).__name__}: {e}") from e
    try:
        weights = weight_digests(model)
    except Exception as e:  # noqa: BLE001
        raise JobError(model_path, f"cannot read the loaded weights back: {type(e).__name__}: {e}") from e
    layer_digests, no_probe = layer_output_digests(keras, model, feed)
    outs, keys = _outputs_list(first)
    outs2, _ = _outputs_list(second)
    deterministic = len(outs) == len(outs2) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in zip(outs, outs2)
    )
    meta = {
        "model": os.path.abspath(model_path),
        "weights_into": os.path.abspath(weights_into) if weights_into else None,
        "keras_major": major,
        "keras_version": version,
        "backend": backend,
        "seed": seed,
        "inputs": [str(getattr(t, "name", i)) for i, t in enumerate(model.inputs)],
        "output_keys": keys,
        "deterministic": deterministic,
        "weights": weights,
        "layer_outputs": layer_digests,
        "layer_outputs_missing": no_probe,
    }
    arrays = {f"in_{i}": a for i, a in enumerate(inputs)}
    arrays.update({f"out_{i}": a for i, a in enumerate(outs)})
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = out + ".tmp.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    except OSError as e:
        raise JobError(out, f"cannot write: {e}") from e


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"keras_predict: usage: {' '.join(message.split())} (see --help)\n")
        sys.exit(EXIT_USAGE)


def main(argv=None) -> int:
    global _real_stderr
    ap = _OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--out", help="the .npz to write")
    ap.add_argument("--weights-into", metavar="ARCH_MODEL", help="full-model file to take the architecture from")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--keras", choices=["auto", "2", "3"], default="auto", help="which Keras loads the file")
    ap.add_argument("--batch", metavar="JOBS.json",
                    help="instead of MODEL --out: a JSON list of {model, out, weights_into?} run in this one "
                         "process (one Keras for all); a failed job writes its error line to OUT.err")
    ap.add_argument("--verbose", action="store_true", help="let the frameworks log to stderr")
    try:
        args = ap.parse_args(argv)
        if args.batch is None and (args.model is None or args.out is None):
            ap.error("MODEL and --out are required (or --batch)")
        if args.batch is not None and (args.model is not None or args.out is not None or args.weights_into):
            ap.error("--batch takes no MODEL, --out or --weights-into")
    except SystemExit as e:
        return EXIT_USAGE if e.code not in (0, None) else 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not args.verbose:
        # TF, XLA and absl write to fd 2 from C++; keep our own stderr for the one error line.
        _real_stderr = os.fdopen(os.dup(2), "w")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import warnings

        warnings.simplefilter("ignore")

    if args.batch is not None:
        try:
            with open(args.batch) as f:
                jobs = [(j["model"], j["out"], j.get("weights_into")) for j in json.load(f)]
        except (OSError, ValueError, KeyError, TypeError) as e:
            fail(args.batch, f"bad jobs file: {type(e).__name__}: {e}", EXIT_USAGE)
    else:
        jobs = [(args.model, args.out, args.weights_into)]
    if not jobs:
        return 0

    # One Keras per process: the first job's file (or --keras) decides; the others must agree.
    try:
        majors = [int(args.keras) if args.keras != "auto" else keras_major_of(m) for m, _, _ in jobs]
    except Exception as e:  # noqa: BLE001
        fail(jobs[0][0] if len(jobs) == 1 else args.batch, f"cannot tell which Keras wrote it: {type(e).__name__}: {e}")
    if len(set(majors)) != 1:
        fail(args.batch, f"jobs need different Kerases ({sorted(set(majors))}); one batch per Keras")
    major = majors[0]
    try:
        # No keras.utils.set_random_seed: every weight comes from the file, predict runs no dropout,
        # and in Keras 3 it imports tensorflow (2-3 s) only to seed it.
        keras, backend, version = import_keras(major)
    except Exception as e:  # noqa: BLE001
        fail(jobs[0][0], f"cannot import Keras {major}: {type(e).__name__}: {e}")

    status = 0
    for i, (model_path, out, weights_into) in enumerate(jobs):
        if i:
            keras.backend.clear_session()
        try:
            run_job(keras, major, backend, version, model_path, out, weights_into, args.seed)
        except JobError as e:
            if args.batch is None:
                fail(e.where, str(e))
            line = "keras_predict: " + e.where + ": " + " ".join(str(e).split())[:600]
            with open(out + ".err", "w") as f:
                f.write(line + "\n")
            status = EXIT_FAIL
    return status


if __name__ == "__main__":
    sys.exit(main())
