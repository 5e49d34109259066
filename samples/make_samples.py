"""Generate ModelPress's committed sample models from scikit-learn's digits data.

Run once by hand (never by the build). It writes, next to this script:

  digits_mlp.onnx  scikit-learn MLPClassifier (64 -> 64 -> 32 -> 10) exported
                   with skl2onnx; input "pixels" float32 [None, 64] (raw pixel
                   values 0..16), outputs "label" int64 [None] and
                   "probabilities" float32 [None, 10] (zipmap disabled).
  digits_cnn.h5    Keras 3 CNN on 8x8x1 images scaled to [0, 1], saved in the
                   legacy HDF5 format.

and checks that the ONNX file gives the same predictions in onnxruntime as the
sklearn model on the test set, and that the .h5 file reloads with
keras.models.load_model and predicts the same as before saving. It exits
non-zero if a check fails.

Data: sklearn.datasets.load_digits (bundled with scikit-learn, no download),
1797 samples, split 75/25 stratified with random_state=0. All seeds fixed.

Last run with: CPython 3.11.7 (jax >= 0.11 needs Python >= 3.12),
  scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime==1.31.1
  keras==3.15.1 jax==0.10.2 jaxlib==0.10.2 h5py==3.16.0 numpy==2.4.6
  (resolved dependencies: scipy==1.17.1 protobuf==7.36.2 ml_dtypes==0.6.0)

To rerun, from the repository root, in a throwaway venv:

  python3 -m venv /tmp/venv-samples && /tmp/venv-samples/bin/pip install \
      scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 onnxruntime==1.31.1 \
      keras==3.15.1 jax==0.10.2 jaxlib==0.10.2 h5py==3.16.0 numpy==2.4.6 \
  && KERAS_BACKEND=jax PYTHONHASHSEED=0 /tmp/venv-samples/bin/python samples/make_samples.py

(The script sets KERAS_BACKEND=jax itself if it is unset.) Output bytes may
differ slightly between machines or versions; the checks are what matters.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import random
import warnings

import numpy as np

SEED = 0
HERE = os.path.dirname(os.path.abspath(__file__))
ONNX_PATH = os.path.join(HERE, "digits_mlp.onnx")
H5_PATH = os.path.join(HERE, "digits_cnn.h5")

random.seed(SEED)
np.random.seed(SEED)

import keras  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import skl2onnx  # noqa: E402
import sklearn  # noqa: E402
from skl2onnx import to_onnx  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

failures = []


def check(ok, what):
    print(("OK    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def load_data():
    digits = load_digits()
    x = digits.data.astype(np.float32)  # (1797, 64), values 0..16
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)


def make_mlp(x_train, x_test, y_train, y_test):
    clf = MLPClassifier(
        hidden_layer_sizes=(64, 32),
        max_iter=1000,
        random_state=SEED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning is a failure
        clf.fit(x_train, y_train)
    sk_pred = clf.predict(x_test)
    acc = float(np.mean(sk_pred == y_test))
    print(f"MLP  sklearn test accuracy: {acc:.4f} ({clf.n_iter_} iterations)")

    onx = to_onnx(
        clf,
        initial_types=[("pixels", FloatTensorType([None, 64]))],
        options={id(clf): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.doc_string = (
        "scikit-learn MLPClassifier(hidden_layer_sizes=(64, 32)) trained on the "
        "sklearn digits data set (8x8 images flattened to 64 pixel values 0..16). "
        "Made by ModelPress samples/make_samples.py."
    )
    onx.model_version = 1
    onx.producer_version = skl2onnx.__version__
    meta = {
        "dataset": "sklearn digits",
        "input_scale": "raw pixel values 0..16",
        "classes": "0-9",
        "test_accuracy": f"{acc:.4f}",
        "test_samples": str(len(y_test)),
        "sklearn_version": sklearn.__version__,
        "skl2onnx_version": skl2onnx.__version__,
    }
    onnx.helper.set_model_props(onx, meta)
    onnx.checker.check_model(onx, full_check=True)
    with open(ONNX_PATH, "wb") as f:
        f.write(onx.SerializeToString())

    # Verify with onnxruntime from the file on disk.
    sess = ort.InferenceSession(ONNX_PATH, providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"pixels": x_test})
    check(isinstance(label, np.ndarray) and isinstance(proba, np.ndarray),
          "ONNX outputs are plain arrays (no zipmap)")
    check(np.array_equal(label, sk_pred),
          "ONNX labels equal sklearn predictions on test set")
    check(np.allclose(proba, clf.predict_proba(x_test), atol=1e-4),
          "ONNX probabilities match sklearn predict_proba (atol 1e-4)")
    onnx_acc = float(np.mean(label == y_test))
    print(f"MLP  onnxruntime test accuracy: {onnx_acc:.4f}")
    return acc


def make_cnn(x_train, x_test, y_train, y_test):
    keras.utils.set_random_seed(SEED)
    xtr = (x_train / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)
    xte = (x_test / 16.0).reshape(-1, 8, 8, 1).astype(np.float32)

    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), name="image"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, name="pool1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(32, activation="relu", name="dense1"),
            keras.layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(xtr, y_train, epochs=20, batch_size=32, shuffle=True, verbose=0)
    before = model.predict(xte, verbose=0)
    acc = float(np.mean(before.argmax(axis=1) == y_test))
    print(f"CNN  keras test accuracy: {acc:.4f} ({model.count_params()} parameters)")

    with warnings.catch_warnings():
        # Keras warns that HDF5 is "legacy"; that is exactly the format we want.
        warnings.simplefilter("ignore")
        model.save(H5_PATH)

    reloaded = keras.models.load_model(H5_PATH)
    after = reloaded.predict(xte, verbose=0)
    check(np.array_equal(after.argmax(axis=1), before.argmax(axis=1)),
          "reloaded .h5 predicts the same labels as before saving")
    check(np.allclose(after, before, atol=1e-6),
          "reloaded .h5 probabilities equal those before saving (atol 1e-6)")
    return acc


def main():
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, "
        f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, "
        f"keras {keras.__version__} (backend {keras.backend.backend()}), "
        f"jax {__import__('jax').__version__}, h5py {__import__('h5py').__version__}"
    )
    x_train, x_test, y_train, y_test = load_data()
    mlp_acc = make_mlp(x_train, x_test, y_train, y_test)
    cnn_acc = make_cnn(x_train, x_test, y_train, y_test)
    check(mlp_acc >= 0.9, f"MLP test accuracy {mlp_acc:.4f} >= 0.90")
    check(cnn_acc >= 0.9, f"CNN test accuracy {cnn_acc:.4f} >= 0.90")
    for path in (ONNX_PATH, H5_PATH):
        size = os.path.getsize(path)
        check(size < 1_000_000, f"{os.path.basename(path)} is {size} bytes (< 1 MB)")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
