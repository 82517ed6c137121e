"""The notebooks in notebooks/ run top to bottom (on their small default inputs), so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"quick_start.ipynb", "table1_reproduction.ipynb"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline, as a user's Jupyter does
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    for c in nb.cells:  # every cell that draws a figure shows it (a Figure pyplot does not manage needs display())
        if c.cell_type == "code" and ("_figure(" in c.source or "plt.subplots" in c.source):
            assert any("image/png" in o.get("data", {}) for o in c.outputs), c.source[:200]
