"""`make install` / `make uninstall`, judged from the installed files.

The Makefile's own targets install into a temporary DESTDIR (PREFIX=/usr/local under it) or a
temporary PREFIX; nothing here copies their logic. The static release build they need is made once
by `make install-build` (a file target: up to date -> no rebuild); `make test-install` makes it
before pytest starts, run alone this file's first install makes it (several minutes).

Checked: the binary needs no Swift runtime library (ldd, readelf), only system libraries with
libhdf5 and libprotobuf-c among them; run from the installed path with a bare environment
(PATH=/usr/bin:/bin, nothing else) it prints its version, inspects the ONNX and Keras samples
(the facts judged by the onnx package and the file sizes), compresses and restores them (lossless
-> byte-identical; JSON report and --json output parse and follow their schemas) and converts the
Keras sample so that h5diff finds no difference; the three completion scripts are where the shells
look and work; uninstall removes every file install put there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import jsonschema
import onnx
import pytest

import interop_helpers as H

REPO = H.REPO_ROOT
SAMPLE_ONNX = "samples/digits_mlp.onnx"
SAMPLE_KERAS = "samples/digits_cnn.h5"
PREFIX = "/usr/local"
SUBCOMMANDS = ("inspect", "convert", "compress", "decompress")

# What install puts under the prefix, and nothing else.
INSTALLED = {
    "bin/modelpress",
    "share/bash-completion/completions/modelpress",
    "share/zsh/site-functions/_modelpress",
    "share/fish/vendor_completions.d/modelpress.fish",
}

# The environment every installed command runs in: no LD_LIBRARY_PATH, no toolchain on PATH.
BARE_ENV = {"PATH": "/usr/bin:/bin"}

# Libraries of the Swift toolchain (runtime, Foundation, Dispatch, ICU); none may be needed.
SWIFT_RUNTIME_LIB = re.compile(
    r"^lib(swift\w*|Foundation\w*|_Foundation\w*|CoreFoundation|dispatch|BlocksRuntime|icu\w*swift\w*)\.so"
)

# A build from scratch on 2 shared cores takes several minutes.
MAKE_TIMEOUT = 3600


def _make(*args: str) -> subprocess.CompletedProcess:
    """Run this repository's Makefile; fail the test with its output when it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    cmd = ["make", "--no-print-directory", "-C", REPO, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=MAKE_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"$ {' '.join(cmd)}\nexit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n"
                    f"--- stderr ---\n{proc.stderr[-3000:]}", pytrace=False)
    return proc


def _files_under(root: str) -> set[str]:
    """Every non-directory entry under root, relative to it."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def _run(args: list[str], cwd: str = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, errors="replace", env=BARE_ENV, cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _describe(proc: subprocess.CompletedProcess) -> str:
    return (f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n--- stdout ---\n{proc.stdout[-2000:]}\n"
            f"--- stderr ---\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> str:
    """The installed tree: `make install DESTDIR=<tmp> PREFIX=/usr/local`; returns <tmp>/usr/local."""
    destdir = str(tmp_path_factory.mktemp("destdir"))
    _make("install", f"DESTDIR={destdir}", f"PREFIX={PREFIX}")
    return destdir + PREFIX


@pytest.fixture(scope="module")
def installed_bin(prefix) -> str:
    return os.path.join(prefix, "bin", "modelpress")


def test_install_puts_exactly_the_binary_and_completions(prefix):
    assert _files_under(prefix) == INSTALLED
    binary = os.path.join(prefix, "bin", "modelpress")
    assert os.access(binary, os.X_OK), f"{binary} is not executable"


def test_binary_needs_no_swift_runtime(installed_bin):
    proc = _run(["ldd", installed_bin])
    assert proc.returncode == 0, _describe(proc)
    libs = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(.*?)\s*(\(0x[0-9a-f]+\))?$", line)
        if m:
            libs[m.group(1)] = m.group(2)
    assert libs, f"ldd lists no libraries:\n{proc.stdout}"
    unresolved = sorted(name for name, path in libs.items() if path == "not found")
    assert not unresolved, f"ldd cannot resolve {unresolved} with a bare environment:\n{proc.stdout}"
    swift = sorted(name for name in libs if SWIFT_RUNTIME_LIB.match(name))
    assert not swift, f"the installed binary still needs Swift runtime libraries {swift}:\n{proc.stdout}"
    outside = sorted(f"{n} => {p}" for n, p in libs.items() if not re.match(r"^/(usr/)?lib(64|x?32)?/", p))
    assert not outside, f"libraries resolved outside the system library folders: {outside}"
    for wanted in ("libhdf5", "libprotobuf-c"):
        assert any(name.startswith(wanted + ".so") or name.startswith(wanted + "_serial.so") for name in libs), (
            f"{wanted} is not among the libraries ldd lists:\n{proc.stdout}")

    # The dynamic section agrees, and no run path points into the toolchain or the build folder.
    proc = _run(["readelf", "-d", installed_bin])
    assert proc.returncode == 0, _describe(proc)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", proc.stdout)
    assert needed and not [n for n in needed if SWIFT_RUNTIME_LIB.match(n)], proc.stdout
    for path in re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.*?)\]", proc.stdout):
        for entry in path.split(":"):
            assert entry.startswith("$ORIGIN"), f"run path entry {entry!r} outside the installed tree"


def _declared_version() -> str:
    with open(os.path.join(REPO, "Sources", "ModelPress", "ModelPress.swift")) as f:
        m = re.search(r'public static let version = "([^"]+)"', f.read())
    assert m, "no `public static let version` in Sources/ModelPress/ModelPress.swift"
    return m.group(1)


def test_version(installed_bin):
    proc = _run([installed_bin, "--version"])
    assert proc.returncode == 0, _describe(proc)
    assert proc.stdout == _declared_version() + "\n", _describe(proc)


def test_inspect_onnx(installed_bin):
    model = onnx.load(os.path.join(REPO, SAMPLE_ONNX))
    elements = 0
    for t in model.graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        elements += n
    tensors = len(model.graph.initializer)
    size = os.path.getsize(os.path.join(REPO, SAMPLE_ONNX))

    proc = _run([installed_bin, "inspect", SAMPLE_ONNX])
    assert proc.returncode == 0, _describe(proc)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{SAMPLE_ONNX}: ONNX model, {size / 1024:.1f} KiB", _describe(proc)
    assert any(ln.startswith(f"Parameters: {elements:,} elements in {tensors} tensors") for ln in lines), (
        _describe(proc))

    proc = _run([installed_bin, "inspect", "--json", SAMPLE_ONNX])
    assert proc.returncode == 0, _describe(proc)
    report = json.loads(proc.stdout)
    with open(os.path.join(REPO, "schemas", "inspect.schema.json")) as f:
        jsonschema.Draft202012Validator(json.load(f)).validate(report)
    assert report["fileBytes"] == size
    assert report["parameters"]["elements"] == elements
    assert report["parameters"]["tensors"] == tensors
    assert report["irVersion"] == model.ir_version


def test_compress_and_restore_onnx(installed_bin, tmp_path):
    sample = os.path.join(REPO, SAMPLE_ONNX)
    mpz = tmp_path / "lossless.mpz"
    proc = _run([installed_bin, "compress", SAMPLE_ONNX, "-o", str(mpz), "--preset", "lossless"])
    assert proc.returncode == 0, _describe(proc)
    ratio = os.path.getsize(sample) / os.path.getsize(mpz)
    assert f"as .mpz ({ratio:.2f}x, preset lossless)" in proc.stdout, _describe(proc)
    restored = tmp_path / "restored.onnx"
    proc = _run([installed_bin, "decompress", str(mpz), "-o", str(restored), "-q"])
    assert proc.returncode == 0, _describe(proc)
    with open(sample, "rb") as a, open(restored, "rb") as b:
        assert a.read() == b.read(), "lossless .mpz did not restore the sample byte for byte"

    # balanced: the report file and the --json summary (JSONEncoder) parse and follow their schema.
    report = tmp_path / "report.json"
    proc = _run([installed_bin, "compress", SAMPLE_ONNX, "-o", str(tmp_path / "balanced.mpz"),
                 "--preset", "balanced", "--report", str(report), "--json"])
    assert proc.returncode == 0, _describe(proc)
    summary = json.loads(proc.stdout)
    assert summary["ratio"] == pytest.approx(os.path.getsize(sample) / os.path.getsize(tmp_path / "balanced.mpz"))
    with open(os.path.join(REPO, "schemas", "compression-report.schema.json")) as f:
        jsonschema.validate(json.loads(report.read_text()), json.load(f))
    restored = tmp_path / "balanced.onnx"
    proc = _run([installed_bin, "decompress", str(tmp_path / "balanced.mpz"), "-o", str(restored), "-q"])
    assert proc.returncode == 0, _describe(proc)
    onnx.checker.check_model(onnx.load(str(restored)), full_check=True)


def test_keras_round_trip(installed_bin, tmp_path):
    """libhdf5 and Foundation's JSONSerialization (the Keras config) at work in the installed binary."""
    proc = _run([installed_bin, "inspect", SAMPLE_KERAS])
    assert proc.returncode == 0, _describe(proc)
    assert proc.stdout.startswith(f"{SAMPLE_KERAS}: "), _describe(proc)
    out = tmp_path / "digits_cnn.h5"
    proc = _run([installed_bin, "convert", SAMPLE_KERAS, str(out)])
    assert proc.returncode == 0, _describe(proc)
    proc = _run(["h5diff", "-c", SAMPLE_KERAS, str(out)])
    assert proc.returncode == 0, _describe(proc)


def test_completions(prefix, installed_bin):
    share = os.path.join(prefix, "share")
    bash = os.path.join(share, "bash-completion", "completions", "modelpress")
    zsh = os.path.join(share, "zsh", "site-functions", "_modelpress")
    fish = os.path.join(share, "fish", "vendor_completions.d", "modelpress.fish")
    for path in (bash, zsh, fish):
        assert os.path.getsize(path) > 0, f"{path} is empty"
    with open(zsh) as f:
        text = f.read()
    assert text.startswith("#compdef modelpress"), f"{zsh} does not start with #compdef modelpress"
    assert all(c in text for c in SUBCOMMANDS), f"{zsh} does not name every subcommand {SUBCOMMANDS}"
    with open(fish) as f:
        text = f.read()
    offered = set(re.findall(r"^complete -c 'modelpress' .*-fa '(\w+)'", text, re.MULTILINE))
    assert set(SUBCOMMANDS) <= offered, f"{fish} offers {sorted(offered)}, not every subcommand {SUBCOMMANDS}"

    proc = _run(["bash", "-n", bash])
    assert proc.returncode == 0, _describe(proc)
    # Complete `modelpress <TAB>` as bash does: the function the script registers must offer every
    # subcommand. The installed bin folder is on PATH, as it is for a user.
    script = f"""
        source {shlex.quote(bash)}
        spec=$(complete -p modelpress) || exit 3
        fn=$(sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p' <<<"$spec")
        [ -n "$fn" ] || exit 4
        COMP_WORDS=(modelpress "")
        COMP_CWORD=1
        COMP_LINE="modelpress "
        COMP_POINT=${{#COMP_LINE}}
        "$fn" modelpress "" modelpress
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    env = dict(BARE_ENV, PATH=os.path.dirname(installed_bin) + ":" + BARE_ENV["PATH"])
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, _describe(proc)
    assert set(SUBCOMMANDS) <= set(proc.stdout.split()), _describe(proc)


@pytest.mark.parametrize("layout", ["destdir", "prefix"])
def test_uninstall_removes_what_install_put(tmp_path, layout):
    if layout == "destdir":
        args = [f"DESTDIR={tmp_path}", f"PREFIX={PREFIX}"]
        root = str(tmp_path) + PREFIX
    else:
        root = str(tmp_path / "prefix")
        args = [f"PREFIX={root}"]
    _make("install", *args)
    assert _files_under(str(tmp_path)) == {os.path.relpath(os.path.join(root, f), tmp_path) for f in INSTALLED}
    # Something of the user's next to ours stays.
    mine = os.path.join(root, "bin", "not-modelpress")
    with open(mine, "w") as f:
        f.write("#!/bin/sh\n")
    _make("uninstall", *args)
    assert _files_under(str(tmp_path)) == {os.path.relpath(mine, tmp_path)}
    # A second uninstall finds nothing to remove and still succeeds.
    _make("uninstall", *args)
    assert shutil.which("modelpress", path=os.path.join(root, "bin")) is None
