"""Keras HDF5 files round-tripped through ModelPress, judged by h5py, h5diff and the Keras that
wrote them.

Files: every .h5 / .hdf5 / .keras of the fixtures' models/keras/ and models/keras-zoo/ (Tests/fixtures/models.tsv),
parametrized by file name. For each:
  (a) `modelpress convert ORIG OUT` (same extension) exits 0 and OUT equals ORIG: `h5diff -c`
      finds no difference, and h5py sees the same groups, datasets and attributes in the same
      iteration order, attribute values equal in value and type (string kind vlen/fixed, charset,
      padding, dataspace), every dataset's bytes, type, chunking, filters and fill value equal.
      `.keras` zips: same members, config.json/metadata.json equal as JSON, model.weights.h5 as above.
  (b) OUT loads in the Keras that wrote ORIG (tf_keras 2.21 for Keras 2 files, Keras 3.15.1/jax
      for Keras 3 files; keras_predict.py in the keras venv) and predicts bit-identically what ORIG
      predicts on the same deterministic inputs. Weights-only files go into the architecture of
      their full-model sibling (WEIGHTS_INTO) with load_weights.
  (c) files with /optimizer_weights: `convert --strip-optimizer` leaves that group out, is smaller,
      equals ORIG in everything else and predicts identically.
  (d) ORIG is never modified and nothing but OUT is left in OUT's folder; converting a file onto
      itself fails and leaves it unchanged.
  (e) `modelpress inspect --json` validates against schemas/inspect.schema.json and reports
      format "keras", fileBytes, the `keras` object (version, backend, trainingConfig,
      optimizerWeights), parameters and per-class layer counts as computed here from the file.
  (f) a Lambda layer and a custom layer class in model_config are warned about.
  (g) bad input (truncated, corrupted superblock, not a Keras file, missing or mis-shaped weights):
      exit 1, one stderr line naming the file, no output left; for convert and inspect.
A table of what was checked per file is printed at the end.

Environment (besides conftest's): MODELPRESS_KERAS_PYTHON, the Python of the keras venv
(default <repo>/.venv-keras/bin/python; `make keras-deps` makes it). A missing judge fails the
tests; nothing here skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

import h5py
import jsonschema
import pytest

import interop_helpers as H
import keras_helpers as K

SUBDIRS = (os.path.join("models", "keras"), os.path.join("models", "keras-zoo"))
EXTENSIONS = (".h5", ".hdf5", ".keras")

# Weights-only file -> the full-model file (same folder) whose architecture it is loaded into.
WEIGHTS_INTO = {
    "k2_conv1d_weights_only.h5": "k2_conv1d_sequential.h5",
    "k3_lstm_text.weights.h5": "k3_lstm_text_sequential.h5",
}
# What (c) must cover at least (MANIFEST: the files saved with their optimizer).
EXPECTED_WITH_OPTIMIZER = {"fer_emotion_model.hdf5", "k2_lstm_text_sequential.h5", "k3_lstm_text_sequential.h5"}

SCHEMA_PATH = os.path.join(K.REPO_ROOT, "schemas", "inspect.schema.json")
CLI_TIMEOUT = float(os.environ.get("MODELPRESS_TIMEOUT", "120"))
BAD_INPUT_TIMEOUT = 60.0


def _keras_files() -> list[tuple[str, str]]:
    """(file name, path) of every Keras file of the fixture manifest (never a folder listing)."""
    found = []
    for sub in SUBDIRS:
        found += [(n if n.startswith("MISSING:") else os.path.basename(p), p)
                  for n, p in H.fixture_files(sub, EXTENSIONS)]
    return found


FILES = _keras_files()
NAMES = [n for n, _ in FILES]
PATHS = dict(FILES)


def _has_optimizer_weights(path: str) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return K.LEGACY_OPTIMIZER_GROUP in f
    except Exception:  # noqa: BLE001 - unreadable files fail in the tests themselves
        return False


STRIP_NAMES = [n for n, p in FILES if not n.startswith("MISSING:") and not K.is_keras_zip(p)
               and _has_optimizer_weights(p)] or ["MISSING:file with /optimizer_weights"]


def _out_name(name: str, stem: str) -> str:
    """Output file name with the input's extension (`.weights.h5` kept whole)."""
    for ext in (".weights.h5", ".keras", ".hdf5", ".h5"):
        if name.endswith(ext):
            return stem + ext
    return stem + os.path.splitext(name)[1]


# --------------------------------------------------------------------------------------------
# Running the CLI


@dataclass
class Cli:
    args: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (f"$ {' '.join(map(str, self.args))}\nexit {self.returncode} after {self.seconds:.2f}s\n"
                f"--- stdout ---\n{self.stdout[-2000:]}\n--- stderr ---\n{self.stderr[-2000:]}")


def run_cli(binary: str, *args, timeout: float = CLI_TIMEOUT) -> Cli:
    cmd = [binary, *map(str, args)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return Cli(cmd, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Cli(cmd, -9999, out, err + f"\n(timed out after {timeout}s)", time.monotonic() - t0)


# --------------------------------------------------------------------------------------------
# The per-file table


COLUMNS = ("keras", "(a) lossless", "(b) predict", "(c) strip", "(d) input", "(e) inspect")
TABLE: dict[str, dict[str, str]] = {}


def _mark(name: str, column: str, value: str) -> None:
    TABLE.setdefault(name, {})[column] = value


class _TablePrinter:
    def pytest_terminal_summary(self, terminalreporter):
        if not TABLE:
            return
        tr = terminalreporter
        tr.section("ModelPress Keras files (h5diff + h5py + the Keras that wrote them)")
        header = ("file",) + COLUMNS + ("note",)
        rows = [header]
        for name in NAMES:
            if name in TABLE:
                r = dict(TABLE[name])
                if name not in STRIP_NAMES and r:
                    r.setdefault("(c) strip", "-")
                rows.append((name,) + tuple(r.get(c, "") for c in COLUMNS) + (r.get("note", ""),))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            tr.write_line("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
        tr.write_line("ok = checked and passed, FAIL = checked and failed, - = does not apply, "
                      "empty = not run")
        extra = TABLE.get("__judge__", {})
        if extra:
            tr.write_line(f"Keras judge: {extra.get('note', '')}")


@pytest.fixture(scope="module", autouse=True)
def _print_table(request):
    plugin = _TablePrinter()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "modelpress-keras-table")
    yield


# --------------------------------------------------------------------------------------------
# Round trips: every selected file converted first, then judged by Keras in a few processes


@dataclass
class RoundTrip:
    name: str
    path: str
    folder: str
    major: int | None = None
    major_error: str | None = None
    arch: str | None = None  # for weights-only files
    sha_before: str = ""
    sha_after: str = ""
    out: str = ""
    convert: Cli | None = None
    stripped: str = ""
    strip: Cli | None = None
    leftovers: list = field(default_factory=list)  # unexpected files in the output folders
    pred: dict = field(default_factory=dict)  # "orig" / "out" / "stripped" -> K.Prediction


def _selected_names(request) -> list[str]:
    me = sys.modules[__name__]
    wanted = set()
    for item in request.session.items:
        if getattr(item, "module", None) is me and "roundtrips" in getattr(item, "fixturenames", ()):
            cs = getattr(item, "callspec", None)
            if cs is not None and "name" in cs.params:
                wanted.add(cs.params["name"])
    return [n for n in NAMES if n in wanted and not n.startswith("MISSING:")]


@pytest.fixture(scope="session")
def keras_judge(tmp_path_factory) -> K.KerasJudge:
    work = str(tmp_path_factory.mktemp("keras-judge"))
    return K.KerasJudge(K.keras_python(), work)


@pytest.fixture(scope="session")
def roundtrips(request, modelpress_bin, fixtures_dir, keras_judge, tmp_path_factory) -> dict[str, RoundTrip]:
    base = str(tmp_path_factory.mktemp("keras-roundtrips"))
    trips: dict[str, RoundTrip] = {}
    t0 = time.monotonic()
    for name in _selected_names(request):
        path = PATHS[name]
        folder = os.path.join(base, re.sub(r"[^A-Za-z0-9_.-]", "_", name))
        os.makedirs(os.path.join(folder, "convert"))
        os.makedirs(os.path.join(folder, "strip"))
        rt = RoundTrip(name, path, folder)
        if name in WEIGHTS_INTO:
            rt.arch = os.path.join(os.path.dirname(path), WEIGHTS_INTO[name])
        try:
            rt.major = K.keras_major(path)
        except Exception as e:  # noqa: BLE001
            rt.major_error = f"{type(e).__name__}: {e}"
        rt.sha_before = K.sha256(path)
        rt.out = os.path.join(folder, "convert", _out_name(name, "converted"))
        rt.convert = run_cli(modelpress_bin, "convert", path, rt.out)
        if name in STRIP_NAMES:
            rt.stripped = os.path.join(folder, "strip", _out_name(name, "stripped"))
            rt.strip = run_cli(modelpress_bin, "convert", "--strip-optimizer", path, rt.stripped)
        rt.sha_after = K.sha256(path)
        for sub, expected in (("convert", rt.out), ("strip", rt.stripped)):
            for f in os.listdir(os.path.join(folder, sub)):
                if os.path.join(folder, sub, f) != expected:
                    rt.leftovers.append(os.path.join(sub, f))
        trips[name] = rt
    convert_seconds = time.monotonic() - t0

    # Keras: originals in one process per Keras, then every written file in another.
    missing = keras_judge.check_available()
    for stage, attr in (("orig", "path"), ("out", "out"), ("stripped", "stripped")):
        jobs = []
        for rt in trips.values():
            model = getattr(rt, attr)
            if not model or (stage != "orig" and not os.path.isfile(model)):
                continue
            if missing:
                rt.pred[stage] = K.Prediction(error=missing)
                continue
            if rt.major is None:
                rt.pred[stage] = K.Prediction(error=f"cannot tell which Keras wrote {rt.path}: {rt.major_error}")
                continue
            jobs.append({"key": rt.name, "model": model, "weights_into": rt.arch, "keras": rt.major})
        for key, pred in keras_judge.predict_many(jobs).items():
            trips[key].pred[stage] = pred
    _mark("__judge__", "note", f"{len(trips)} files converted in {convert_seconds:.1f} s; keras_predict.py "
          f"({K.keras_python()}) ran {keras_judge.seconds:.1f} s")
    return trips


def _trip(roundtrips, name) -> RoundTrip:
    assert not name.startswith("MISSING:"), f"fixture manifest not readable: {PATHS.get(name, name)}"
    return roundtrips[name]


def _require_converted(rt: RoundTrip, cli: Cli | None, out: str, what: str, column: str) -> None:
    if cli is None or cli.returncode != 0 or not os.path.isfile(out):
        _mark(rt.name, column, "FAIL")
        _mark(rt.name, "note", f"{what} failed")
    if cli is None:
        pytest.fail(f"{rt.name}: {what} was not run", pytrace=False)
    if cli.returncode != 0:
        pytest.fail(f"{rt.name}: {what} failed\n{cli.describe()}", pytrace=False)
    if not os.path.isfile(out):
        pytest.fail(f"{rt.name}: {what} exited 0 but wrote no {out}\n{cli.describe()}", pytrace=False)


def _judged(name: str, column: str, problems: list[str], note: str = "") -> None:
    _mark(name, column, "FAIL" if problems else "ok")
    if note:
        prev = TABLE[name].get("note", "")
        _mark(name, "note", f"{prev}; {note}" if prev else note)
    if problems:
        pytest.fail(f"{name}:\n" + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# Tests


def test_keras_files_present(fixtures_dir):
    missing = [n for n in NAMES if n.startswith("MISSING:")]
    assert not missing, f"fixture manifest not readable: {missing}"
    assert len(NAMES) >= 15, f"too few Keras files: {NAMES}"
    assert EXPECTED_WITH_OPTIMIZER <= set(STRIP_NAMES), (
        f"files with /optimizer_weights found: {STRIP_NAMES}; expected at least {sorted(EXPECTED_WITH_OPTIMIZER)}")
    for name, arch in WEIGHTS_INTO.items():
        assert name in PATHS and arch in PATHS, f"weights-only file {name} or its architecture {arch} missing"


def test_keras_judge_available(keras_judge):
    """The judge venv exists and has the pinned Kerases (a missing judge fails, never skips)."""
    missing = keras_judge.check_available()
    assert missing is None, missing
    code = ("import importlib.metadata as m; print(m.version('tf_keras'), m.version('keras'), m.version('jax'), "
            "m.version('tensorflow'))")
    r = subprocess.run([keras_judge.python, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{keras_judge.python} cannot report its Keras versions: {r.stderr[-1000:]}"
    versions = r.stdout.split()
    pinned = {}
    with open(os.path.join(K.HERE, "requirements-keras.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if m:
                pinned[m.group(1).lower().replace("_", "-")] = m.group(2)
    want = [pinned.get("tf-keras"), pinned.get("keras"), pinned.get("jax"), pinned.get("tensorflow")]
    assert versions == want, (f"{keras_judge.python} has tf_keras/keras/jax/tensorflow {versions}, "
                              f"requirements-keras.txt pins {want}: run `make keras-deps`")


@pytest.mark.parametrize("name", NAMES)
def test_convert_is_lossless(name, roundtrips, workdir):
    """(a) h5diff and h5py find OUT equal to ORIG."""
    rt = _trip(roundtrips, name)
    _mark(name, "keras", f"{rt.major}" if rt.major else "?")
    _require_converted(rt, rt.convert, rt.out, "convert", "(a) lossless")
    if K.is_keras_zip(rt.path):
        problems = K.compare_keras_zips(rt.path, rt.out, workdir)
    else:
        problems = []
        d = K.h5diff(rt.path, rt.out)
        if d:
            problems.append("h5diff: " + d)
        problems += ["h5py: " + p for p in K.compare_h5(rt.path, rt.out)]
    with open(rt.path, "rb") as a, open(rt.out, "rb") as b:
        same_bytes = a.read() == b.read()
    _judged(name, "(a) lossless", problems, "byte-identical" if same_bytes else "")


def _prediction_problems(rt: RoundTrip, stage: str) -> tuple[list[str], str]:
    """(problems, note) comparing the Keras outputs of rt.pred[stage] with the original's."""
    orig, written = rt.pred.get("orig"), rt.pred.get(stage)
    if orig is None or orig.error:
        return [f"the judge cannot run the ORIGINAL: {orig.error if orig else 'not run'}"], "judge failed"
    if written is None or written.error:
        return [f"(b) the written file does not load or predict in Keras: {written.error if written else 'not run'}"], \
            "written fails in Keras"
    ins_o, outs_o, meta_o = K.load_prediction(orig.npz)
    ins_w, outs_w, meta_w = K.load_prediction(written.npz)
    problems = []
    if not meta_o.get("deterministic"):
        problems.append("the original does not predict deterministically in its own process: cannot judge")
    if (meta_o["keras_version"], meta_o["backend"]) != (meta_w["keras_version"], meta_w["backend"]):
        problems.append(f"judged by different Kerases: {meta_o['keras_version']}/{meta_o['backend']} vs "
                        f"{meta_w['keras_version']}/{meta_w['backend']}")
    d = K.arrays_diff(ins_o, ins_w, "inputs")
    if d:
        problems.append(f"the model's input specs changed, so the generated inputs differ: {d}")
    d = K.arrays_diff(outs_o, outs_w, "outputs")
    if d:
        problems.append(f"(b) outputs differ from the original's: {d}")
    d = K.digests_diff(meta_o.get("weights"), meta_w.get("weights"), "weights as loaded by Keras")
    if d:
        problems.append(f"(b) {d}")
    d = K.digests_diff(meta_o.get("layer_outputs"), meta_w.get("layer_outputs"), "layer outputs")
    if d:
        problems.append(f"(b) {d}")
    if meta_o.get("layer_outputs_missing"):
        note_probe = f"; no layer probe: {meta_o['layer_outputs_missing'][:60]}"
    else:
        note_probe = ""
    mad = K.max_abs_diff(outs_o, outs_w)
    note = (f"Keras {meta_o['keras_version']}/{meta_o['backend']}, {len(outs_o)} output(s), "
            f"{len(meta_o.get('weights') or [])} weights, {len(meta_o.get('layer_outputs') or [])} layer outputs")
    if mad:
        note += f", max abs diff {mad:.3g}"
    return problems, note + note_probe


@pytest.mark.parametrize("name", NAMES)
def test_written_file_predicts_identically(name, roundtrips):
    """(b) OUT loads in the Keras that wrote ORIG and predicts bit-identically."""
    rt = _trip(roundtrips, name)
    _require_converted(rt, rt.convert, rt.out, "convert", "(b) predict")
    problems, note = _prediction_problems(rt, "out")
    if rt.arch:
        note += f", weights into {os.path.basename(rt.arch)}"
    _judged(name, "(b) predict", problems, note)


@pytest.mark.parametrize("name", STRIP_NAMES)
def test_strip_optimizer(name, roundtrips, workdir):
    """(c) --strip-optimizer: no /optimizer_weights, smaller, all else equal, same predictions."""
    rt = _trip(roundtrips, name)
    _require_converted(rt, rt.strip, rt.stripped, "convert --strip-optimizer", "(c) strip")
    problems = []
    with h5py.File(rt.stripped, "r") as f:
        if K.LEGACY_OPTIMIZER_GROUP in f:
            problems.append("the output still has /optimizer_weights")
    a, b = os.path.getsize(rt.path), os.path.getsize(rt.stripped)
    if b >= a:
        problems.append(f"the output is not smaller: {b} bytes vs {a}")
    excl = ("/" + K.LEGACY_OPTIMIZER_GROUP,)
    d = K.h5diff(rt.path, rt.stripped, excl)
    if d:
        problems.append("h5diff: " + d)
    problems += ["h5py: " + p for p in K.compare_h5(rt.path, rt.stripped, excl)]
    p2, note = _prediction_problems(rt, "stripped")
    problems += p2
    _judged(name, "(c) strip", problems, f"stripped {a - b:,} of {a:,} bytes")


@pytest.mark.parametrize("name", NAMES)
def test_input_never_modified(name, roundtrips):
    """(d) ORIG hashes the same after convert (and --strip-optimizer); no stray files left."""
    rt = _trip(roundtrips, name)
    problems = []
    if rt.sha_before != rt.sha_after:
        problems.append(f"the input changed: sha256 {rt.sha_before} -> {rt.sha_after}")
    if rt.leftovers:
        problems.append(f"files left next to the output: {rt.leftovers}")
    _judged(name, "(d) input", problems)


def test_convert_onto_itself_refused(modelpress, workdir):
    """(d) `convert X X` must not overwrite its input: exit 1, one line naming it, X unchanged."""
    src = PATHS.get("k3_conv1d_sequential.h5") or next(p for n, p in FILES if not n.startswith("MISSING:"))
    x = K.copy_to(src, workdir, "self_target.h5")
    before = K.sha256(x)
    r = modelpress("convert", x, x)
    assert K.sha256(x) == before, f"convert X X modified X\n{r.describe()}"
    assert r.returncode == 1, r.describe()
    problem = K.one_line_naming(r.stderr, "self_target.h5")
    assert problem is None, problem + "\n" + r.describe()
    assert K.tmpdir_listing(workdir) == ["self_target.h5"], f"left behind: {K.tmpdir_listing(workdir)}"


# --------------------------------------------------------------------------------------------
# (e) inspect --json


@pytest.fixture(scope="session")
def schema():
    with open(SCHEMA_PATH) as f:
        s = json.load(f)
    jsonschema.Draft202012Validator.check_schema(s)
    return s


def inspect_problems(report: dict, path: str) -> list[str]:
    """Every difference between `inspect --json` of a Keras file and what h5py/json say."""
    facts = K.file_facts(path)
    problems = []

    def want(what, got, expected):
        if got != expected:
            problems.append(f"{what}: {got!r}, expected {expected!r}")

    want("format", report.get("format"), "keras")
    want("fileBytes", report.get("fileBytes"), os.path.getsize(path))
    k = report.get("keras")
    if not isinstance(k, dict):
        problems.append(f"no `keras` object: {k!r}")
        k = {}
    for key, expected in (("version", facts.keras_version), ("backend", facts.backend)):
        if expected is None:
            if key in k:
                problems.append(f"keras.{key}: {k[key]!r}, but the file records none (omit it)")
        else:
            want(f"keras.{key}", k.get(key), expected)
    want("keras.trainingConfig", k.get("trainingConfig"), facts.training_config)
    ow = k.get("optimizerWeights") if isinstance(k.get("optimizerWeights"), dict) else {}
    want("keras.optimizerWeights.bytes", ow.get("bytes"), facts.optimizer_bytes)
    want("keras.optimizerWeights.tensors", ow.get("tensors"), facts.optimizer_tensors)
    params = report.get("parameters", {})
    want("parameters.tensors", params.get("tensors"), facts.weight_tensors)
    want("parameters.elements", params.get("elements"), facts.weight_elements)
    want("parameters.bytes", params.get("bytes"), facts.weight_bytes)
    by_type = {e.get("dtype"): e.get("tensors") for e in params.get("byType", [])}
    want("parameters.byType (dtype -> tensors)", by_type, facts.weight_dtypes)
    if facts.model_config is not None:  # weights-only files name no layer classes: not judged
        layers = {o["op"]: o["count"] for o in report.get("operators", []) if o.get("domain") == "keras"}
        want("operators (domain keras: class_name -> count)", layers, facts.layer_counts)
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_inspect_json(name, modelpress, schema):
    """(e) the report validates and matches h5py's view of the file."""
    assert not name.startswith("MISSING:"), f"fixture manifest not readable: {PATHS[name]}"
    path = PATHS[name]
    r = modelpress("inspect", "--json", path)
    problems = []
    if r.returncode != 0:
        problems.append(f"exit {r.returncode}\n{r.describe()}")
    else:
        try:
            report = json.loads(r.stdout)
        except ValueError as e:
            report = None
            problems.append(f"stdout is not JSON: {e}\n{r.stdout[:500]}")
        if report is not None:
            try:
                jsonschema.validate(report, schema)
            except jsonschema.ValidationError as e:
                problems.append(f"does not validate against {os.path.relpath(SCHEMA_PATH, K.REPO_ROOT)}: "
                                f"{e.message} at {list(e.absolute_path)}")
            problems += inspect_problems(report, path)
    _judged(name, "(e) inspect", problems)


# --------------------------------------------------------------------------------------------
# (f) warnings


WARNING_CASES = [
    ("lambda", "k2_conv1d_sequential.h5"),
    ("lambda", "k3_conv1d_sequential.h5"),
    ("custom-class", "k2_conv1d_sequential.h5"),
    ("custom-class", "k3_conv1d_sequential.h5"),
]


def _lambda_warning(text: str) -> bool:
    return any("Lambda" in ln and re.search(r"execut", ln, re.I) and re.search(r"byte ?code|code", ln, re.I)
               for ln in text.splitlines())


@pytest.mark.parametrize("case,source", WARNING_CASES, ids=[f"{c}-{s.split('_')[0]}" for c, s in WARNING_CASES])
def test_inspect_warns(case, source, modelpress, workdir):
    """(f) inspect (text and --json `warnings`) names a Lambda layer, saying Keras would execute its
    Python bytecode, and a layer class Keras does not ship."""
    assert source in PATHS, f"{source} not among the real Keras files (fixtures)"
    if case == "lambda":
        path = K.make_lambda_model(PATHS[source], workdir)
        ok = _lambda_warning
        expect = "a warning line naming 'Lambda' and saying Keras would execute its (Python byte)code"
    else:
        path = K.make_custom_class_model(PATHS[source], workdir)

        def ok(text):
            return K.CUSTOM_CLASS in text

        expect = f"a warning naming {K.CUSTOM_CLASS!r}"
    problems = []
    text = modelpress("inspect", path)
    if text.returncode != 0:
        problems.append(f"inspect: exit {text.returncode} (a warning is not an error)\n{text.describe()}")
    elif not ok(text.stdout + "\n" + text.stderr):
        problems.append(f"inspect (text) shows no {expect}\n{text.describe()}")
    js = modelpress("inspect", "--json", path)
    if js.returncode != 0:
        problems.append(f"inspect --json: exit {js.returncode}\n{js.describe()}")
    else:
        try:
            warnings = json.loads(js.stdout).get("warnings", [])
        except ValueError as e:
            warnings = []
            problems.append(f"inspect --json: stdout is not JSON: {e}")
        if not ok("\n".join(map(str, warnings))):
            problems.append(f"inspect --json: `warnings` has no {expect}: {warnings}")
    if problems:
        pytest.fail(f"{case} in {source}:\n" + "\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# (g) bad input


def _bad_cases() -> list[tuple[str, str]]:
    cases = [("truncated", str(c)) for c in ("0", "96", "2048", "half", "-512", "-1")]
    cases += [("superblock", w) for w in K.SUPERBLOCK_CORRUPTIONS]
    cases += [("not-keras", "plain-hdf5")]
    for src in ("k2_conv1d_sequential.h5", "k3_conv1d_sequential.h5"):
        cases += [("missing-weights", src), ("transposed-kernel", src)]
    return cases


BAD_CASES = _bad_cases()
TRUNCATION_SOURCE = "k3_conv1d_sequential.h5"


def _make_bad(kind: str, arg: str, folder: str) -> tuple[str, str]:
    """(path, what the file is) for one bad-input case, made in folder."""
    if kind == "truncated":
        src = PATHS[TRUNCATION_SOURCE]
        size = os.path.getsize(src)
        cut = size // 2 if arg == "half" else (size + int(arg) if arg.startswith("-") else int(arg))
        return K.make_truncated(src, folder, cut), f"{TRUNCATION_SOURCE} cut to {cut} of {size} bytes"
    if kind == "superblock":
        return K.make_corrupted_superblock(PATHS[TRUNCATION_SOURCE], folder, arg), f"superblock {arg} corrupted"
    if kind == "not-keras":
        return K.make_plain_hdf5(folder), "plain HDF5 file with one dataset"
    if kind == "missing-weights":
        path, layer = K.make_missing_weights(PATHS[arg], folder)
        return path, f"{arg} without model_weights/{layer}"
    if kind == "transposed-kernel":
        path, ds = K.make_transposed_kernel(PATHS[arg], folder)
        return path, f"{arg} with {ds} transposed"
    raise ValueError(kind)


@pytest.mark.parametrize("command", ["convert", "inspect", "inspect --json"])
@pytest.mark.parametrize("kind,arg", BAD_CASES, ids=[f"{k}-{a}" for k, a in BAD_CASES])
def test_bad_input_fails_cleanly(kind, arg, command, modelpress_bin, workdir):
    """(g) exit 1, exactly one stderr line naming the file, no output file left behind."""
    in_dir = os.path.join(workdir, "in")
    out_dir = os.path.join(workdir, "out")
    os.makedirs(in_dir)
    os.makedirs(out_dir)
    path, what = _make_bad(kind, arg, in_dir)
    listing = K.tmpdir_listing(in_dir)
    before = K.sha256(path)
    if command == "convert":
        r = run_cli(modelpress_bin, "convert", path, os.path.join(out_dir, "out.h5"), timeout=BAD_INPUT_TIMEOUT)
    else:
        r = run_cli(modelpress_bin, *command.split(), path, timeout=BAD_INPUT_TIMEOUT)
    problems = []
    if r.returncode != 1:
        problems.append(f"exit status {r.returncode}, expected 1")
    p = K.one_line_naming(r.stderr, os.path.basename(path))
    if p:
        problems.append(p)
    if K.tmpdir_listing(out_dir):
        problems.append(f"output folder not empty after the failure: {K.tmpdir_listing(out_dir)}")
    if K.tmpdir_listing(in_dir) != listing or K.sha256(path) != before:
        problems.append("the input folder or file changed")
    if problems:
        pytest.fail(f"{command} on {what}:\n" + "\n".join(problems) + "\n" + r.describe(), pytrace=False)


# --------------------------------------------------------------------------------------------
# The judges judged: comparisons must see a one-byte change (no Swift needed)


def _h5py_rebuild(src: str, dst: str, skip: tuple[str, ...] = ()) -> None:
    """A faithful copy made object by object with h5py (not a byte copy): the judges must accept it."""
    with h5py.File(src, "r") as a, h5py.File(dst, "w", libver="earliest") as b:
        for k, v in a.attrs.items():
            b.attrs.create(k, v, dtype=a.attrs.get_id(k).dtype)

        def copy_group(ga, gb, path):
            for name in ga:
                p = f"{path}/{name}"
                if p in skip:
                    continue
                obj = ga[name]
                if isinstance(obj, h5py.Group):
                    gb2 = gb.create_group(name)
                    for k in obj.attrs:
                        gb2.attrs.create(k, obj.attrs[k], dtype=obj.attrs.get_id(k).dtype)
                    copy_group(obj, gb2, p)
                else:
                    ds = gb.create_dataset(name, data=obj[()], dtype=obj.dtype)
                    for k in obj.attrs:
                        ds.attrs.create(k, obj.attrs[k], dtype=obj.attrs.get_id(k).dtype)

        copy_group(a, b, "")


def test_judges_accept_rebuilt_copy_and_see_one_byte(workdir):
    src = PATHS.get("k3_lstm_text_sequential.h5")
    assert src, "k3_lstm_text_sequential.h5 not found"
    good = os.path.join(workdir, "rebuilt.h5")
    _h5py_rebuild(src, good)
    assert K.h5diff(src, good) is None
    assert K.compare_h5(src, good) == []
    stripped = os.path.join(workdir, "rebuilt_stripped.h5")
    _h5py_rebuild(src, stripped, skip=("/optimizer_weights",))
    assert K.h5diff(src, stripped, ("/optimizer_weights",)) is None
    assert K.compare_h5(src, stripped, ("/optimizer_weights",)) == []
    assert K.compare_h5(src, stripped) != [], "compare_h5 misses a removed group"

    # one byte of one weight
    flipped = K.copy_to(good, workdir, "flipped.h5")
    with h5py.File(flipped, "r+") as f:
        names = []
        f["model_weights"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        ds = f["model_weights/" + names[0]]
        a = ds[()]
        a.reshape(-1).view("u1")[5] ^= 0x01
        ds[...] = a
    assert K.h5diff(src, flipped) is not None, "h5diff misses a flipped weight byte"
    assert any("bytes differ" in p for p in K.compare_h5(src, flipped)), "compare_h5 misses a flipped weight byte"

    # a vlen string attribute turned into a fixed-length one with the same value
    fixed = K.copy_to(good, workdir, "fixed_string.h5")
    with h5py.File(fixed, "r+") as f:
        v = f.attrs["backend"]
        raw = (v if isinstance(v, bytes) else v.encode())
        f.attrs.create("backend", raw, dtype=f"S{len(raw)}")
    problems = K.compare_h5(src, fixed)
    assert any("backend" in p and "vlen" in p and "fixed" in p for p in problems), problems

    # attribute order: h5py iterates by name, so a renamed-then-restored order cannot differ; a
    # missing attribute must show
    dropped = K.copy_to(good, workdir, "dropped_attr.h5")
    with h5py.File(dropped, "r+") as f:
        del f["model_weights"].attrs["backend"]
    assert any("attribute names" in p for p in K.compare_h5(src, dropped))
