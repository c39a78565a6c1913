"""Defer pandas until it is used: Mesa imports it eagerly, a model run does not need it.

``import mesa`` imports pandas (and with it pyarrow) at module level, for
``DataCollector.get_model_vars_dataframe`` and ``AgentSet`` helpers that a simulation never
calls. That is 77 MiB of resident memory and ~1 s of start-up in every process (the ``cartsim``
command, each sweep worker, each model run). :func:`defer` puts a placeholder module in
``sys.modules`` that becomes the real one, in place, the first time anything reads an attribute
of it or imports one of its submodules; everything that imported it keeps working unchanged.

Why not :class:`importlib.util.LazyLoader`: its modules load on *any* attribute access,
including the ``__file__`` look-up that :func:`inspect.stack` makes on every module in
``sys.modules`` (Mesa calls it while importing), so pandas would load at once. Here the
placeholder answers the dunder names that the import system and :mod:`inspect` ask for
(``__name__``, ``__spec__``, ``__file__``, ...) from its own dictionary and loads on anything
else. A submodule imported first (``pandas.core.frame``, as unpickling a DataFrame does) runs
the package's ``__init__`` first, in the order the package expects, and is then taken from what
that ``__init__`` imported rather than run a second time (:class:`_SubmoduleFinder`).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
import types

_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """A module whose code runs when one of its attributes is first read."""

    def __getattr__(self, attr: str):  # called only for names not yet in the module's dict
        with _lock:
            if type(self) is _Deferred:  # not loaded by another thread meanwhile
                _load(self)
        return getattr(self, attr)


def _load(module: _Deferred) -> None:
    name = module.__name__
    module.__class__ = types.ModuleType
    try:
        module.__spec__.loader.exec_module(module)
    except BaseException:
        # as a failed import does: forget the half-made module, so the next import retries
        # and raises the real error
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise


def defer(name: str) -> None:
    """Import the top-level module ``name`` on first use instead of now.

    Does nothing if it is already imported or not installed (the import that needs it then
    fails as usual).
    """
    with _lock:
        if name in sys.modules or "." in name:
            return
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _Deferred
        sys.modules[name] = module
        if not any(isinstance(f, _SubmoduleFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _SubmoduleFinder())


class _SubmoduleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs a deferred package before one of its submodules is imported.

    The package's ``__init__`` usually imports the submodule itself; the import then returns
    that module (the loader below hands it over as is) instead of running its code a second
    time, which would give two copies of its classes.
    """

    def find_spec(self, fullname, path, target=None):
        top = fullname.partition(".")[0]
        if top == fullname or not is_deferred(top):
            return None
        with _lock:
            if is_deferred(top):
                _load(sys.modules[top])
        loaded = sys.modules.get(fullname)
        if loaded is None:
            return None  # not imported by the package: the usual finders take it from here
        # The import system loads a module it finds already in sys.modules from that module's
        # own spec, which would run its code again into a new module: lend it a spec whose
        # loader hands over the existing module and then gives it its own spec back.
        spec = importlib.util.spec_from_loader(fullname, self, origin=getattr(loaded, "__file__", None),
                                               is_package=hasattr(loaded, "__path__"))
        spec.loader_state = loaded.__spec__
        loaded.__spec__ = spec
        return spec

    def create_module(self, spec):
        return sys.modules[spec.name]

    def exec_module(self, module) -> None:
        module.__spec__ = module.__spec__.loader_state


def is_deferred(name: str) -> bool:
    """Whether ``name`` is imported but its code has not run yet."""
    return type(sys.modules.get(name)) is _Deferred
