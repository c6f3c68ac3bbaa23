"""Patching of training entry points for ``loopml.autolog``.

Autologging has to wrap library functions (``fit``, ``lightgbm.train``, ...) because the user's
script calls them directly; that is process-wide by nature, as in MLflow. The state is kept in
one :class:`Patches` object owned by ``loopml.tracking.autolog`` so that ``disable=True`` puts
every original back. Modules not yet imported are patched right after their import (a
``sys.meta_path`` finder), so ``autolog()`` does not import scikit-learn, LightGBM, XGBoost or
torch itself.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

# > 0 while a patched call is running in this context: calls made inside it (a Pipeline's
# steps, a meta-estimator's clones, lightgbm.train inside LGBMClassifier.fit) see the outer
# call's session instead of starting their own run.
_session: contextvars.ContextVar[Any] = contextvars.ContextVar("loopml_autolog_session",
                                                              default=None)


def current_session() -> Any:
    """The session of the outermost patched call running in this context, or None."""
    return _session.get()


def in_session(session: Any, fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` with ``session`` as the current session."""
    token = _session.set(session)
    try:
        return fn()
    finally:
        _session.reset(token)


class Patches:
    """The patches applied: ``(owner, attribute) -> original``. ``undo_all`` restores them."""

    def __init__(self) -> None:
        self._originals: dict[tuple[Any, str], Any] = {}
        self._lock = threading.Lock()
        self._finder: _AfterImport | None = None

    def wrap(self, owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
        """Replace ``owner.name`` (a function defined on ``owner`` itself: a class or a
        module) with ``make(original)``; once per attribute. Returns False when absent."""
        with self._lock:
            key = (owner, name)
            if key in self._originals:
                return True
            original = vars(owner).get(name)
            if not callable(original) or isinstance(original, (classmethod, staticmethod)):
                return False
            wrapper = functools.wraps(original)(make(original))
            wrapper.__loopml_autolog__ = True  # type: ignore[attr-defined]
            setattr(owner, name, wrapper)
            self._originals[key] = original
            return True

    def undo_all(self) -> None:
        with self._lock:
            for (owner, name), original in self._originals.items():
                setattr(owner, name, original)
            self._originals.clear()
            if self._finder is not None:
                self._finder.hooks.clear()

    def after_import(self, module: str, hook: Callable[[ModuleType], None]) -> None:
        """Call ``hook(module)`` now when ``module`` is imported, else right after its import."""
        loaded = sys.modules.get(module)
        if loaded is not None:
            hook(loaded)
            return
        with self._lock:
            if self._finder is None:
                self._finder = _AfterImport()
                sys.meta_path.insert(0, self._finder)
            self._finder.hooks[module] = hook


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a watched module it asks the other finders and wraps the
    loader so that the hook runs once the module's code has run."""

    def __init__(self) -> None:
        self.hooks: dict[str, Callable[[ModuleType], None]] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        hook = self.hooks.pop(fullname, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HookedLoader(spec.loader, hook)  # type: ignore[assignment]
                return spec
        return None


class _HookedLoader(importlib.abc.Loader):
    """Delegates to the real loader and runs the hook after ``exec_module``."""

    def __init__(self, loader: Any, hook: Callable[[ModuleType], None]) -> None:
        self._loader, self._hook = loader, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._hook(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)
