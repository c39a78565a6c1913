"""Pandas is deferred (cartsim._deferred): a model run never loads it, and the first use of it,
by any route, gives the one real pandas."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from cartsim import _deferred

from .conftest import ROOT


def _fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_model_run_loads_neither_pandas_nor_pyarrow():
    got = _fresh("""
import json, sys
from cartsim import CarTModel
from cartsim._deferred import is_deferred
m = CarTModel({"tissue": {"width": 20, "height": 20}, "time": {"duration_days": 1},
               "tumor": {"initial": {"cells": 30}}, "dosing": [{"day": 0, "cells": 10, "product": "CAR19"}]})
m.run()
during = [is_deferred("pandas"), "pyarrow" in sys.modules, "pandas" in sys.modules]
df = m.datacollector.get_model_vars_dataframe()   # the first real use loads it
print(json.dumps({"during": during, "after": is_deferred("pandas"), "rows": len(df), "type": type(df).__name__}))
""")
    assert got == {"during": [True, False, True], "after": False, "rows": 5, "type": "DataFrame"}


def test_a_submodule_imported_first_runs_the_package_once_and_is_the_same_module():
    got = _fresh("""
import json, pickle, sys
import cartsim
import pandas.core.frame as frame   # as unpickling a DataFrame does, before anything else
import pandas
df = pandas.DataFrame({"a": [1, 2]})
print(json.dumps({
    "same_class": frame.DataFrame is pandas.DataFrame,
    "same_module": sys.modules["pandas.core.frame"] is frame and pandas.core.frame is frame,
    "spec_restored": pandas.core.__spec__.name == "pandas.core" and pandas.core.__spec__.origin.endswith("__init__.py"),
    "pickles": pickle.loads(pickle.dumps(df)).equals(df),
}))
""")
    assert got == {"same_class": True, "same_module": True, "spec_restored": True, "pickles": True}


def test_from_import_and_attribute_access_load_it():
    got = _fresh("""
import json
import cartsim
from pandas import DataFrame
import pandas as pd
print(json.dumps({"from": DataFrame is pd.DataFrame, "version": isinstance(pd.__version__, str)}))
""")
    assert got == {"from": True, "version": True}


def test_defer_leaves_imported_and_missing_modules_alone(monkeypatch):
    assert "json" in sys.modules
    before = sys.modules["json"]
    _deferred.defer("json")
    assert sys.modules["json"] is before and not _deferred.is_deferred("json")
    _deferred.defer("no_such_module_here")
    assert "no_such_module_here" not in sys.modules


def test_a_module_that_fails_to_load_raises_its_own_error_and_is_forgotten(tmp_path, monkeypatch):
    (tmp_path / "broken_on_load.py").write_text("raise ValueError('broken at import')\nvalue = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _deferred.defer("broken_on_load")
    try:
        module = sys.modules["broken_on_load"]
        assert isinstance(module, types.ModuleType) and _deferred.is_deferred("broken_on_load")
        with pytest.raises(ValueError, match="broken at import"):
            module.value
        assert "broken_on_load" not in sys.modules  # the next import retries and fails the same way
        with pytest.raises(ValueError, match="broken at import"):
            import broken_on_load  # noqa: F401
    finally:
        sys.modules.pop("broken_on_load", None)
