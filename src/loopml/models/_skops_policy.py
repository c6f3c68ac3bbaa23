"""What a skops file may name to load without trust: exact names, per node kind, deny by default.

A skops file is a zip whose ``schema.json`` is a tree of nodes. Each node has a loader
(``__loader__``: how skops rebuilds it) and a name (``__module__`` + ``__class__``: what skops
imports and, for most loaders, *calls*). ``ObjectNode`` calls ``cls.__new__``, ``LossNode``
and ``ConstructorFromReduceNode`` call the name with arguments from the file, ``DictNode``
calls each of its ``key_types`` on a key string, ``PartialNode`` and ``MethodNode`` hand out
callables. So a name that is a *function* (``numpy.testing._private.utils.runstring``,
``builtins.eval``) is code execution, wherever it sits. Trusting module prefixes
(``numpy.``) therefore trusts every function those modules hold.

``audit_schema`` walks the JSON (nothing imported, nothing built) and checks every node
against ``default_policy()``: for each loader the exact names it may carry. The names are
classes only (estimators, their fitted helpers, numpy dtypes and arrays, scipy sparse
matrices), plus the ufuncs skops itself trusts as function references and the one
function scikit-learn stores in fitted models (``check_array``, inside a
``functools.partial`` of HistGradientBoosting's categorical preprocessor). Loaders that
only exist to rebuild callables by attribute lookup (``MethodNode``, ``OperatorFuncNode``,
``DefaultDictNode``, ``ConstructorFromReduceNode``) and unknown loaders are refused.
Only the current skops protocol is accepted: older protocols rebuild some nodes from names
stored elsewhere in the node, which this walk would not see.

The skops names follow skops' own spelling: ``<type.__module__>.<type.__name__>``.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Loaders whose name is never imported or called: JsonNode rebuilds with json.loads, a
# CachedNode points at a node already audited where it first appeared.
_NAME_UNUSED = frozenset({"JsonNode", "CachedNode"})
_PRIMITIVES = ("builtins.int", "builtins.float", "builtins.str", "builtins.bool")


@dataclass(frozen=True)
class SkopsPolicy:
    """Exact names allowed per skops loader; anything else is refused.

    ``by_loader``: loader name -> the ``module.Class`` names that loader may carry.
    ``bit_generators``: the ``numpy.random.<name>`` bit generators a Generator may use.
    ``protocol``: the one skops protocol accepted.
    """

    by_loader: Mapping[str, frozenset[str]]
    bit_generators: frozenset[str]
    protocol: int

    def allows(self, loader: str, name: str) -> bool:
        return name in self.by_loader.get(loader, frozenset())

    def all_names(self) -> frozenset[str]:
        return frozenset().union(*self.by_loader.values())


def type_name(obj: Any) -> str:
    """The name skops writes for a class or function: ``module.name``."""
    return f"{obj.__module__}.{obj.__name__}"


def _classes_in(module_name: str, base: type | None = None) -> set[str]:
    import importlib

    module = importlib.import_module(module_name)
    return {type_name(c) for _, c in inspect.getmembers(module, inspect.isclass)
            if c.__module__ == module_name and (base is None or issubclass(c, base))}


def _estimators() -> set[str]:
    """Every public scikit-learn estimator class, from sklearn's own registry."""
    from sklearn.utils import all_estimators

    return {type_name(c) for _, c in all_estimators()
            if c.__module__.startswith("sklearn.") and ".tests" not in c.__module__
            and "_testing" not in c.__module__}


def _fitted_helpers() -> set[str]:
    """Non-estimator classes that fitted estimators hold as attributes.

    Loss and link objects (linear models, gradient boosting), the HistGradientBoosting
    binner and tree predictors, the MLP optimizers, CalibratedClassifierCV's per-class
    calibrators, ColumnTransformer's ``make_column_selector`` (dtype and regex selection),
    and the scorer and splitters a search CV keeps. Each is a class whose construction
    stores numbers, strings and arrays; none calls a callable taken from the file. Left
    out on purpose: KDTree/BallTree (their index arrays are followed without bounds
    checks) and ``_Scorer`` (it holds a metric *function*).
    """
    from sklearn import calibration
    from sklearn._loss.link import BaseLink
    from sklearn._loss.loss import BaseLoss
    from sklearn.compose import make_column_selector
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.metrics._scorer import _PassthroughScorer
    from sklearn.model_selection._split import BaseCrossValidator, BaseShuffleSplit
    from sklearn.neural_network import _stochastic_optimizers as opt

    names = _classes_in("sklearn._loss.link", BaseLink) | _classes_in("sklearn._loss.loss",
                                                                       BaseLoss)
    names |= _classes_in("sklearn.model_selection._split", BaseCrossValidator)
    names |= _classes_in("sklearn.model_selection._split", BaseShuffleSplit)
    names |= {type_name(c) for c in (_BinMapper, TreePredictor, opt.AdamOptimizer,
                                     opt.SGDOptimizer, make_column_selector,
                                     _PassthroughScorer, calibration._CalibratedClassifier,
                                     calibration._SigmoidCalibration)}
    names.add("sklearn._loss.link.Interval")
    return names


def _cython_losses() -> set[str]:
    """The Cython loss classes skops rebuilds with ``LossNode`` (constructor + setstate)."""
    return _classes_in("sklearn._loss._loss") | _classes_in("sklearn.linear_model._sgd_fast")


def _sparse_classes() -> set[str]:
    import scipy.sparse as sp

    return {type_name(c) for _, c in inspect.getmembers(sp, inspect.isclass)
            if issubclass(c, (sp.spmatrix, sp.sparray)) and c not in (sp.spmatrix, sp.sparray)}


@functools.lru_cache(maxsize=1)
def default_policy() -> SkopsPolicy:
    """The allow-list loopml loads without trust, built from the installed libraries.

    Built once per process (importing sklearn's estimator registry takes ~1 s); the result
    depends only on the installed packages.
    """
    import numpy as np
    from skops.io._protocol import PROTOCOL

    # skops' own default lists: the dtypes and ufuncs it trusts.
    from skops.io._trusted_types import (
        NUMPY_DTYPE_TYPE_NAMES,
        NUMPY_UFUNC_TYPE_NAMES,
        SCIPY_UFUNC_TYPE_NAMES,
    )

    # numpy's concrete bit generators, as skops >= 0.16 lists them (computed here so older
    # skops releases in the supported range work too).
    bit_generators = frozenset(
        f"numpy.random.{a}" for a in dir(np.random)
        if isinstance(c := getattr(np.random, a), type) and issubclass(c, np.random.BitGenerator)
        and c is not np.random.BitGenerator)

    dtypes = frozenset(NUMPY_DTYPE_TYPE_NAMES)
    # numpy's abstract scalar classes, e.g. make_column_selector(dtype_include=np.number).
    abstract = frozenset(type_name(t) for t in (
        np.generic, np.number, np.integer, np.signedinteger, np.unsignedinteger, np.inexact,
        np.floating, np.complexfloating, np.flexible, np.character))
    containers = frozenset({"builtins.list", "builtins.tuple", "builtins.set", "builtins.dict"})
    objects = frozenset(_estimators() | _fitted_helpers())
    by_loader: dict[str, frozenset[str]] = {
        "ObjectNode": objects,
        "LossNode": frozenset(_cython_losses()),
        "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
        "DictNode": frozenset({"builtins.dict", "collections.OrderedDict",
                               "sklearn.utils._bunch.Bunch"}),
        "ListNode": frozenset({"builtins.list"}),
        "SetNode": frozenset({"builtins.set"}),
        "TupleNode": frozenset({"builtins.tuple"}),
        "SliceNode": frozenset({"builtins.slice"}),
        "BytesNode": frozenset({"builtins.bytes"}),
        "BytearrayNode": frozenset({"builtins.bytearray"}),
        "TypeNode": frozenset(_PRIMITIVES) | containers | dtypes | abstract,
        "NdArrayNode": frozenset({"numpy.ndarray"}) | dtypes,
        "MaskedArrayNode": frozenset({type_name(np.ma.MaskedArray)}),
        "DTypeNode": frozenset({"numpy.dtype"}),
        "RandomStateNode": frozenset({type_name(np.random.RandomState)}),
        "RandomGeneratorNode": frozenset({type_name(np.random.Generator)}),
        "SparseMatrixNode": frozenset(_sparse_classes()),
        "FunctionNode": frozenset(NUMPY_UFUNC_TYPE_NAMES) | frozenset(SCIPY_UFUNC_TYPE_NAMES)
        | {"sklearn.utils.validation.check_array"},
        "PartialNode": frozenset({"functools.partial"}),
    }
    return SkopsPolicy(by_loader, bit_generators, PROTOCOL)


def iter_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every node (a dict with ``__loader__``) anywhere in a parsed ``schema.json``.

    Walks every dict and list, not only the children skops would visit, so a node cannot
    hide under a key this walk does not know. Iterative: a deep file cannot overflow."""
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def node_name(node: Mapping[str, Any]) -> str:
    return f"{node.get('__module__')}.{node.get('__class__')}"


def _bit_generator(node: Mapping[str, Any]) -> str:
    """The bit generator a RandomGeneratorNode will import from ``numpy.random`` (skops reads
    it from the nested state, not from the node's own name)."""
    try:
        raw = node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
        return f"numpy.random.{json.loads(raw)}"
    except (KeyError, TypeError, ValueError):
        return "numpy.random.<missing bit generator name>"


def _node_problems(node: Mapping[str, Any], policy: SkopsPolicy) -> Iterable[str]:
    loader, name = node.get("__loader__"), node_name(node)
    if not isinstance(loader, str) or not isinstance(node.get("__module__"), str) or \
            not isinstance(node.get("__class__"), str):
        return [f"{name} (malformed node)"]
    if loader in _NAME_UNUSED:
        return []
    if loader == "MethodNode":  # a bound method looked up by name: never trusted by default
        func = (node.get("content") or {}).get("func") if isinstance(node.get("content"), dict) \
            else None
        return [f"{name}.{func}"]
    if loader not in policy.by_loader:
        return [f"{name} (as {loader})"]
    out = [] if policy.allows(loader, name) else [name]
    if loader == "RandomGeneratorNode" and (bg := _bit_generator(node)) not in \
            policy.bit_generators:
        out.append(bg)
    return out


def audit_schema(schema: Any, policy: SkopsPolicy) -> tuple[list[str], list[str]]:
    """Check a parsed ``schema.json``: ``(refused, allowed)`` names, each sorted and unique.

    ``refused`` lists every name the policy does not allow (a function such as
    ``builtins.eval``, a class outside the list, ``functools.partial`` of an untrusted
    function shows the function); ``allowed`` the names found that it allows, which is what
    skops must then be told to trust.
    """
    if not isinstance(schema, dict):
        return ["schema.json (not a JSON object)"], []
    refused: set[str] = set()
    protocol = schema.get("protocol")
    if protocol != policy.protocol or isinstance(protocol, bool):
        refused.add(f"skops protocol {protocol!r} (only protocol {policy.protocol} is "
                    "checked; re-save the model with the current skops)")
    allowed: set[str] = set()
    for node in iter_nodes(schema):
        problems = list(_node_problems(node, policy))
        refused.update(problems)
        if not problems and node.get("__loader__") not in _NAME_UNUSED:
            allowed.add(node_name(node))
    return sorted(refused), sorted(allowed)
