"""Write the Keras zoo: the Keras files the tests read, made by real Keras with seeded random weights.

Run with the Keras venv's python (`.venv-keras/bin/python`, tf_keras 2.21 + tensorflow 2.21 and
Keras 3.15.1 + jax; Tests/interop/requirements-keras.txt):

    .venv-keras/bin/python scripts/make_keras_zoo.py --out DIR [--only small|large|all] [NAME ...]

`k2_*` files are written by tf_keras 2.21 (TF_USE_LEGACY_KERAS=1), `k3_*` files by Keras 3.15.1 with
the jax backend; each Keras runs in a child process of its own (the two cannot share one process).
Every layer is named explicitly so the files have the same layer names whatever order they are made in;
every model starts from `set_random_seed(1234)`. NOTES.keras2.json and NOTES.keras3.json beside the
committed files (Tests/fixtures/keras-zoo/) say how each file is written.

The small files (< 512 KB) are committed under Tests/fixtures/keras-zoo/ (`--only small`, then copy);
the large ones (the LSTM text models, ~4.4 MB each, and MobileNetV2, ~14.7 MB) are written at fixture
time by `make fixtures` (scripts/fetch_fixtures.py calls `--only large`). Weights are random, so
byte-identical output is not promised across machines; the tests compare each file's round trip with
itself, never with stored bytes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

SEED = 1234

# name -> (keras major version, size class)
FILES = {
    "k2_branching_functional.h5": (2, "small"),
    "k2_conv1d_sequential.h5": (2, "small"),
    "k2_conv1d_weights_only.h5": (2, "small"),
    "k2_gru_functional.h5": (2, "small"),
    "k2_nested_submodel.h5": (2, "small"),
    "k2_lstm_text_sequential.h5": (2, "large"),
    "k3_branching_functional.h5": (3, "small"),
    "k3_branching_functional.keras": (3, "small"),
    "k3_conv1d_sequential.h5": (3, "small"),
    "k3_fp16_mlp.h5": (3, "small"),
    "k3_gru_functional.h5": (3, "small"),
    "k3_nested_submodels.h5": (3, "small"),
    "k3_transformer_mha.h5": (3, "small"),
    "k3_lstm_text_sequential.h5": (3, "large"),
    "k3_lstm_text.weights.h5": (3, "large"),
    "k3_mobilenetv2.h5": (3, "large"),
}


def _want(names: set[str], *files: str) -> bool:
    return any(f in names for f in files)


def write_keras2(out: str, names: set[str]) -> None:
    """tf_keras 2.21: every k2_* file."""
    import numpy as np
    import tf_keras as k
    from tf_keras import layers as L

    def save(model, name: str) -> None:
        model.save(os.path.join(out, name), save_format="h5")
        print(f"wrote {name}", flush=True)

    if _want(names, "k2_branching_functional.h5"):
        k.utils.set_random_seed(SEED)
        inp = L.Input((32, 32, 3), name="input_3")
        x = L.Conv2D(16, 3, padding="same", name="conv2d")(inp)
        x = L.BatchNormalization(name="batch_normalization")(x)
        x = L.Activation("relu", name="activation")(x)
        a = L.Conv2D(16, 1, padding="same", name="conv2d_1")(x)
        b = L.Conv2D(16, 3, padding="same", name="conv2d_2")(x)
        y = L.Concatenate(name="concatenate")([a, b])
        y = L.Conv2D(16, 1, name="conv2d_3")(y)
        y = L.Add(name="add")([x, y])
        y = L.GlobalAveragePooling2D(name="global_average_pooling2d_1")(y)
        y = L.Dropout(0.2, name="dropout")(y)
        out_t = L.Dense(10, activation="softmax", name="dense_2")(y)
        save(k.Model(inp, out_t, name="k2_branching"), "k2_branching_functional.h5")

    if _want(names, "k2_conv1d_sequential.h5", "k2_conv1d_weights_only.h5"):
        k.utils.set_random_seed(SEED)
        model = k.Sequential([
            L.Conv1D(32, 7, activation="relu", input_shape=(128, 3), name="conv1d"),
            L.MaxPooling1D(2, name="max_pooling1d"),
            L.Conv1D(64, 5, activation="relu", name="conv1d_1"),
            L.GlobalMaxPooling1D(name="global_max_pooling1d"),
            L.Dense(10, name="dense_6"),
        ], name="k2_conv1d")
        if "k2_conv1d_sequential.h5" in names:
            save(model, "k2_conv1d_sequential.h5")
        if "k2_conv1d_weights_only.h5" in names:
            model.save_weights(os.path.join(out, "k2_conv1d_weights_only.h5"), save_format="h5")
            print("wrote k2_conv1d_weights_only.h5", flush=True)

    if _want(names, "k2_gru_functional.h5"):
        k.utils.set_random_seed(SEED)
        inp = L.Input((None, 16), name="input_2")
        x = L.Bidirectional(L.GRU(32, return_sequences=True, name="gru"), name="bidirectional")(inp)
        x = L.GRU(16, name="gru_1")(x)
        out_t = L.Dense(4, activation="softmax", name="dense_1")(x)
        save(k.Model(inp, out_t, name="k2_gru"), "k2_gru_functional.h5")

    if _want(names, "k2_nested_submodel.h5"):
        k.utils.set_random_seed(SEED)
        inner = k.Sequential([
            L.Dense(32, activation="relu", input_shape=(20,), name="dense_3"),
            L.BatchNormalization(name="batch_normalization_1"),
            L.Dense(16, name="dense_4"),
        ], name="inner_seq")
        a = L.Input((20,), name="input_4")
        b = L.Input((20,), name="input_5")
        c = L.Concatenate(name="concatenate_1")([inner(a), inner(b)])
        out_t = L.Dense(1, activation="sigmoid", name="dense_5")(c)
        save(k.Model([a, b], out_t, name="k2_nested"), "k2_nested_submodel.h5")

    if _want(names, "k2_lstm_text_sequential.h5"):
        k.utils.set_random_seed(SEED)
        model = k.Sequential([
            L.Embedding(5000, 64, input_length=40, mask_zero=True, name="embedding"),
            L.LSTM(64, return_sequences=True, name="lstm"),
            L.LSTM(32, name="lstm_1"),
            L.Dense(1, activation="sigmoid", name="dense"),
        ], name="k2_lstm_text")
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(SEED)
        x = rng.integers(0, 5000, size=(32, 40))
        y = rng.integers(0, 2, size=(32, 1)).astype("float32")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        save(model, "k2_lstm_text_sequential.h5")


def write_keras3(out: str, names: set[str]) -> None:
    """Keras 3.15.1 with jax: every k3_* file."""
    import keras as k
    import numpy as np
    from keras import layers as L

    def save(model, name: str) -> None:
        model.save(os.path.join(out, name))
        print(f"wrote {name}", flush=True)

    # First, so that its automatically named input is `input_layer` as in the applications' own files.
    if _want(names, "k3_mobilenetv2.h5"):
        k.utils.set_random_seed(SEED)
        save(k.applications.MobileNetV2(weights=None), "k3_mobilenetv2.h5")

    if _want(names, "k3_branching_functional.h5", "k3_branching_functional.keras"):
        k.utils.set_random_seed(SEED)
        image = k.Input((32, 32, 3), name="image")
        x = L.Conv2D(16, 3, padding="same", name="stem")(image)
        x = L.BatchNormalization(name="stem_bn")(x)
        x = L.ReLU(name="re_lu")(x)
        b1 = L.Conv2D(16, 1, padding="same", activation="relu", name="b1_1x1")(x)
        b2 = L.Conv2D(16, 3, padding="same", activation="relu", name="b2_3x3")(x)
        b3 = L.DepthwiseConv2D(5, padding="same", name="b3_dw5x5")(x)
        y = L.Concatenate(name="concat")([b1, b2, b3])
        y = L.Conv2D(16, 1, name="proj")(y)
        y = L.Add(name="residual_add")([x, y])
        y = L.BatchNormalization(name="post_bn")(y)
        y = L.GlobalAveragePooling2D(name="global_average_pooling2d_1")(y)
        y = L.Dropout(0.3, name="dropout")(y)
        cls = L.Dense(10, activation="softmax", name="class_head")(y)
        reg = L.Dense(1, name="reg_head")(y)
        model = k.Model(image, [cls, reg], name="branching")
        for name in ("k3_branching_functional.h5", "k3_branching_functional.keras"):
            if name in names:
                save(model, name)

    if _want(names, "k3_conv1d_sequential.h5"):
        k.utils.set_random_seed(SEED)
        model = k.Sequential([
            k.Input((128, 3), name="input_layer_3"),
            L.Conv1D(32, 7, padding="same", activation="relu", name="conv1d"),
            L.MaxPooling1D(2, name="max_pooling1d"),
            L.Conv1D(64, 5, padding="causal", dilation_rate=2, activation="relu", name="conv1d_1"),
            L.SeparableConv1D(64, 3, padding="same", name="separable_conv1d"),
            L.GlobalAveragePooling1D(name="global_average_pooling1d"),
            L.Dense(10, name="dense_2"),
        ], name="conv1d_seq")
        save(model, "k3_conv1d_sequential.h5")

    if _want(names, "k3_fp16_mlp.h5"):
        k.utils.set_random_seed(SEED)
        model = k.Sequential([
            k.Input((64,), name="input_layer_6"),
            L.Dense(128, activation="relu", dtype="float16", name="dense_7"),
            L.Dense(10, dtype="float16", name="dense_8"),
        ], name="fp16_mlp")
        save(model, "k3_fp16_mlp.h5")

    if _want(names, "k3_gru_functional.h5"):
        k.utils.set_random_seed(SEED)
        frames = k.Input((None, 16), name="frames")
        h = L.Bidirectional(L.GRU(32, return_sequences=True, name="gru"), name="bigru")(frames)
        g = L.GRU(24, name="gru")(h)
        r = L.SimpleRNN(8, name="simple_rnn")(h)
        c = L.Concatenate(name="concatenate")([g, r])
        out_t = L.Dense(4, activation="softmax", name="cls")(c)
        save(k.Model(frames, out_t, name="gru_functional"), "k3_gru_functional.h5")

    if _want(names, "k3_nested_submodels.h5"):
        k.utils.set_random_seed(SEED)
        inner_seq = k.Sequential([
            k.Input((20,), name="input_layer_4"),
            L.Dense(32, activation="relu", name="dense_3"),
            L.BatchNormalization(name="batch_normalization"),
            L.Dense(16, name="dense_4"),
        ], name="inner_sequential")
        i = k.Input((16,), name="input_layer_5")
        inner_fn = k.Model(i, L.Dense(8, activation="tanh", name="dense_5")(
            L.LayerNormalization(name="layer_normalization")(i)), name="inner_shared_functional")
        a = k.Input((20,), name="a")
        b = k.Input((20,), name="b")
        ea = inner_fn(inner_seq(a))
        eb = inner_fn(inner_seq(b))
        d = L.Subtract(name="subtract")([ea, eb])
        c = L.Concatenate(name="concatenate_1")([ea, eb, d])
        out_t = L.Dense(1, activation="sigmoid", name="dense_6")(c)
        save(k.Model([a, b], out_t, name="siamese_nested"), "k3_nested_submodels.h5")

    if _want(names, "k3_transformer_mha.h5"):
        k.utils.set_random_seed(SEED)
        tokens = k.Input((24,), dtype="int32", name="tokens")
        x = L.Embedding(1000, 64, name="tok_emb")(tokens)
        att = L.MultiHeadAttention(num_heads=4, key_dim=16, name="mha")(x, x)
        h = L.LayerNormalization(name="ln1")(L.Add(name="add")([x, att]))
        f = L.Dense(64, name="ffn2")(L.Dense(128, activation="gelu", name="ffn1")(h))
        h = L.LayerNormalization(name="ln2")(L.Add(name="add_1")([h, f]))
        h = L.GlobalAveragePooling1D(name="global_average_pooling1d_1")(h)
        out_t = L.Dense(5, name="logits")(h)
        save(k.Model(tokens, out_t, name="tiny_transformer"), "k3_transformer_mha.h5")

    if _want(names, "k3_lstm_text_sequential.h5", "k3_lstm_text.weights.h5"):
        k.utils.set_random_seed(SEED)
        model = k.Sequential([
            k.Input((40,), dtype="int32", name="input_layer_2"),
            L.Embedding(5000, 64, mask_zero=True, name="embedding"),
            L.LSTM(64, return_sequences=True, name="lstm"),
            L.LSTM(32, name="lstm_1"),
            L.Dense(16, activation="relu", name="dense"),
            L.Dense(1, activation="sigmoid", name="dense_1"),
        ], name="lstm_text")
        model.compile(optimizer=k.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(SEED)
        x = rng.integers(1, 5000, size=(32, 40)).astype("int32")
        y = rng.integers(0, 2, size=(32, 1)).astype("float32")
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        if "k3_lstm_text_sequential.h5" in names:
            save(model, "k3_lstm_text_sequential.h5")
        if "k3_lstm_text.weights.h5" in names:
            model.save_weights(os.path.join(out, "k3_lstm_text.weights.h5"))
            print("wrote k3_lstm_text.weights.h5", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder to write the files into (created if missing)")
    ap.add_argument("--only", choices=("small", "large", "all"), default="all")
    ap.add_argument("--keras", choices=("2", "3"), help=argparse.SUPPRESS)  # the child processes
    ap.add_argument("names", nargs="*", help="files to write (default: all of the --only class)")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in FILES]
    if unknown:
        print(f"make_keras_zoo: unknown file(s): {', '.join(unknown)}; known: {', '.join(FILES)}", file=sys.stderr)
        return 64
    names = set(args.names) or {n for n, (_, size) in FILES.items() if args.only in ("all", size)}
    os.makedirs(args.out, exist_ok=True)
    if args.keras == "2":
        write_keras2(args.out, names)
        return 0
    if args.keras == "3":
        write_keras3(args.out, names)
        return 0
    for major in (2, 3):
        mine = sorted(n for n in names if FILES[n][0] == major)
        if not mine:
            continue
        env = dict(os.environ, PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
        if major == 2:
            env["TF_USE_LEGACY_KERAS"] = "1"
        else:
            env.pop("TF_USE_LEGACY_KERAS", None)
            env["KERAS_BACKEND"] = "jax"
            env["JAX_PLATFORMS"] = "cpu"
        cmd = [sys.executable, os.path.abspath(__file__), "--out", args.out, "--keras", str(major), *mine]
        if subprocess.run(cmd, env=env).returncode != 0:
            print(f"make_keras_zoo: Keras {major} failed writing {', '.join(mine)}", file=sys.stderr)
            return 1
    missing = [n for n in sorted(names) if not os.path.isfile(os.path.join(args.out, n))]
    if missing:
        print(f"make_keras_zoo: not written: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
