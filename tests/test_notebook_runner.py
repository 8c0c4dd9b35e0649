"""notebooks/run.py, the headless runner, on tiny generated notebooks (no Spark, no results):
a failing notebook is one readable line, and the kernel prints no warnings of its own."""

from __future__ import annotations

import nbformat
import pytest

from notebooks import run

pytestmark = pytest.mark.unit


def notebook(tmp_path, name: str, *cells: str):
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('results = "unused"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *(nbformat.v4.new_code_cell(c) for c in cells)]
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_is_one_line_without_colour_codes(tmp_path, capfd):
    path = notebook(tmp_path, "99_fails.ipynb", "x = 1", 'raise ValueError("no blocks table")')
    status = run.main([str(tmp_path), str(path), "--out", str(tmp_path / "out")])
    out, err = capfd.readouterr()
    assert status == 1
    assert out.strip() == "FAILED  99_fails.ipynb: ValueError: no blocks table", out
    assert "\x1b" not in out + err
    assert "WARNING" not in err and "Debugger warning" not in err, err
    # the executed copy is still written, with the error in it
    executed = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    assert [o.ename for o in executed.cells[-1].outputs if o.output_type == "error"] == [
        "ValueError"
    ]


def test_a_notebook_that_runs_reports_ok_and_gets_its_results_parameter(tmp_path, capfd):
    path = notebook(tmp_path, "98_runs.ipynb", "print(results)")
    status = run.main([str(tmp_path), str(path), "--out", str(tmp_path / "out")])
    out, err = capfd.readouterr()
    assert status == 0 and out.startswith("ok      98_runs.ipynb"), out
    assert "WARNING" not in err and "Debugger warning" not in err, err
    executed = nbformat.read(tmp_path / "out" / path.name, as_version=4)
    assert executed.cells[-1].outputs[0].text.strip() == str(tmp_path.resolve())


@pytest.mark.parametrize(
    "message",
    [
        "\x1b[0;31mValueError\x1b[0m: \x1b[1mboom\x1b[0m",
        "Traceback\n\x1b[0;31m---\x1b[0m\nValueError: boom",
    ],
)
def test_the_failure_line_strips_ansi_escapes(message):
    assert run.failure(RuntimeError(message)) == "ValueError: boom"
