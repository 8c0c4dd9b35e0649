"""The notebooks run headless on the Spark job's results over the mainnet fixtures, and
render their plots."""

from __future__ import annotations

import json

import nbformat
import pytest

from notebooks.run import execute, notebooks

pytestmark = pytest.mark.notebook


def test_there_are_notebooks_stored_without_outputs():
    assert len(notebooks()) >= 2
    for path in notebooks():
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name
        tags = [c.get("metadata", {}).get("tags", []) for c in notebook["cells"]]
        assert sum("parameters" in t for t in tags) == 1, f"{path.name}: one parameters cell"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_headless_and_plots(path, spark_local_results, tmp_path):
    results, _ = spark_local_results
    executed = nbformat.read(execute(path, results, tmp_path), as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: {len(images)} plot(s)"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Traceback" not in text
