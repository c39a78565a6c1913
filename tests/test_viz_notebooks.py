"""The teaching notebooks run from top to bottom and show what they promise; git keeps them clean."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT

pytestmark = pytest.mark.slow

NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_dose_response.ipynb", "03_antigen_escape.ipynb",
         "04_interactive.ipynb", "05_calibration.ipynb"]


def test_notebooks_are_stored_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"


def run(name: str):
    """Execute a notebook from the notebooks folder; returns its outputs (an error fails the test)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    kinds = [kind for o in outputs for kind in o.get("data", {})]
    return text, kinds


def test_quickstart():
    text, kinds = run("01_quickstart.ipynb")
    assert kinds.count("image/png") == 2  # time series and tissue snapshots
    counts = re.findall(r"at the end (\d+) tumor cells, (\d+) of them CD19-negative", text)
    assert len(counts) == 2  # the original run and the edited one


def test_dose_response():
    text, kinds = run("02_dose_response.ipynb")
    assert "image/png" in kinds
    ed50, se = map(float, re.search(r"ED50 = ([\d.]+) ± ([\d.]+) CAR-T cells", text).groups())
    assert 1 <= ed50 <= 32  # inside the doses tried
    assert se < ed50  # the fit pins it down


def test_antigen_escape():
    text, kinds = run("03_antigen_escape.ipynb")
    assert kinds.count("image/png") == 3
    final = {design: int(n) for design, n in re.findall(r"(CD19[A-Z0-9 ]*) CAR: (\d+) tumor cells", text)}
    assert set(final) == {"CD19", "CD19 OR CD22", "CD19 AND CD22"}
    # Escaping an OR CAR takes losing both antigens: it leaves the fewest tumor cells.
    assert final["CD19 OR CD22"] < min(final["CD19"], final["CD19 AND CD22"])


def test_interactive_page_inline():
    text, kinds = run("04_interactive.ipynb")
    assert kinds.count("application/vnd.jupyter.widget-view+json") == 2  # two pages displayed
    assert re.search(r"Day 2\.00:\*\* [\d,]+ tumor cells", text)


def test_calibration():
    text, kinds = run("05_calibration.ipynb")
    assert kinds.count("image/png") == 3  # pairs, predictive bands, cohort rates
    found = re.findall(r"(r|gamma): true [\d.e+-]+, 90 % credible interval \[[^\]]+\] -> (inside|OUTSIDE)", text)
    assert sorted(name for name, _ in found) == ["gamma", "r"]
    assert all(where == "inside" for _, where in found), text
    assert re.search(r"response: \d+/12", text)
