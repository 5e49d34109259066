"""The compression report (`--report FILE`) follows schemas/compression-report.schema.json."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = json.load(open(os.path.join(REPO, "schemas", "compression-report.schema.json")))

CASES = [
    ("samples/digits_mlp.onnx", "prune(sparsity=0.5),kmeans(bits=4),huffman"),
    ("samples/digits_cnn.h5", "linear(bits=8)"),
    ("samples/digits_cnn.h5", "fp16"),
]


@pytest.mark.parametrize("model,passes", CASES)
def test_report_follows_the_schema(modelpress, tmp_path, model, passes):
    report = tmp_path / "r.json"
    r = modelpress("compress", os.path.join(REPO, model), "--passes", passes, "--report", report, "-q")
    assert r.returncode == 0, r.describe()
    data = json.loads(report.read_text())
    jsonschema.validate(data, SCHEMA)
    rows = data["tensors"]
    assert rows, "the report lists no tensors"
    assert any("skipped" not in t for t in rows), "nothing was compressed"
    t = data["totals"]
    assert t["tensors"] == len(rows)
    assert t["processed"] == sum(1 for x in rows if "skipped" not in x)
    assert t["originalBytes"] == sum(x["originalBytes"] for x in rows)
    assert t["estimatedBytes"] == sum(x["estimatedBytes"] for x in rows)
