"""Hostile model files: code must not run because a model was loaded.

The skops corpus is written by hand, node by node, the way an attacker would write it: each
file's ``schema.json`` names a callable that runs a string (or a chain that reaches one),
and the payload creates a canary file. Untrusted, every file is refused with
``UntrustedModel`` whose message names the callable and says how to trust it, both through
``loopml.models.load`` and at ``loopml serve`` start-up, and the canary never appears.
``test_corpus_is_really_hostile`` loads each with trust and sees the canary: the refusals
are what kept it out. The generative test puts every public numpy/scipy/sklearn callable
outside the allow-list into reduce and function nodes.

Mirrors MLflow CVE-2024-37052..37060 (code run by loading pickled/cloudpickled models of
each flavor) and skops' own type-audit bypasses (a trusted module holding a function that
runs strings).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import pkgutil
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from loopml import models
from loopml.errors import InvalidParameterValue
from loopml.models import UntrustedModel
from loopml.models._skops_policy import default_policy

Node = dict[str, Any]


# ---- skops schema nodes, written by hand ------------------------------------------------
def _split(dotted: str) -> tuple[str, str]:
    module, _, name = dotted.rpartition(".")
    return module, name


def _node(loader: str, dotted: str, **extra: Any) -> Node:
    module, name = _split(dotted)
    return {"__class__": name, "__module__": module, "__loader__": loader, **extra}


def json_node(value: Any) -> Node:
    return _node("JsonNode", "builtins.str", content=json.dumps(value), is_json=True)


def tuple_node(*items: Node) -> Node:
    return _node("TupleNode", "builtins.tuple", content=list(items))


def list_node(*items: Node) -> Node:
    return _node("ListNode", "builtins.list", content=list(items))


def type_node(dotted: str) -> Node:
    return _node("TypeNode", dotted)


def func_node(dotted: str) -> Node:
    return _node("FunctionNode", dotted)


def dict_node(content: dict[str, Node], key_type: Node | None = None) -> Node:
    """``key_type`` is called on each key string when skops rebuilds the dict."""
    kt = key_type or type_node("builtins.str")
    return _node("DictNode", "builtins.dict", content=content,
                 key_types=list_node(*[kt for _ in content]))


def reduce_node(dotted: str, *args: Node) -> Node:
    """A reduce node: skops calls ``dotted(*args)`` (LossNode takes its constructor from the
    node's own name)."""
    return _node("LossNode", dotted, content=dict_node({}),
                 __reduce__={"args": tuple_node(*args)})


def object_node(dotted: str, attrs: dict[str, Node]) -> Node:
    return _node("ObjectNode", dotted, content=dict_node(attrs))


def partial_node(func: Node, *args: Node, **kwds: Node) -> Node:
    return _node("PartialNode", "functools.partial", content={
        "func": func, "args": tuple_node(*args), "kwds": dict_node(kwds),
        "namespace": json_node(None)})


def operator_node(kind: str, *args: Any) -> Node:
    return _node("OperatorFuncNode", f"operator.{kind}",
                 attrs=tuple_node(*[json_node(a) for a in args]))


def method_node(obj: Node, func: str) -> Node:
    return {"__class__": obj["__class__"], "__module__": obj["__module__"],
            "__loader__": "MethodNode", "content": {"func": func, "obj": obj}}


def write_skops(folder: Path, root: Node, protocol: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "model.skops", "w") as z:
        z.writestr("schema.json", json.dumps({**root, "protocol": protocol,
                                              "_skops_version": "0.16.0"}))
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"sklearn": {
        "pickled_model": "model.skops", "serialization_format": "skops"}}}))
    return folder


# ---- the corpus: (refused names that must be reported, schema root) ----------------------
def _code(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').close()"


def _os_module() -> Node:
    # os.path is a module skops will import; attrgetter("os") on it yields os itself.
    return reduce_node("operator.call", operator_node("attrgetter", "os"), type_node("os.path"))


Gadget = Callable[[Path], tuple[set[str], Node]]


def numpy_runstring(c: Path) -> tuple[set[str], Node]:
    """numpy.testing's runstring(astr, dict) is exec: the finding of the review."""
    return {"numpy.testing._private.utils.runstring"}, reduce_node(
        "numpy.testing._private.utils.runstring", json_node(_code(c)), dict_node({}))


def sklearn_testing_script(c: Path) -> tuple[set[str], Node]:
    """A function under sklearn.utils._testing that runs a Python script in a subprocess."""
    name = "sklearn.utils._testing.assert_run_python_script_without_output"
    return {name}, reduce_node(name, json_node(_code(c)))


def builtins_eval_key_type(c: Path) -> tuple[set[str], Node]:
    """DictNode calls each key type on its key: a function there is called with a string."""
    return {"builtins.eval"}, dict_node({_code(c): json_node(1)}, func_node("builtins.eval"))


def builtins_exec_type_node(c: Path) -> tuple[set[str], Node]:
    """A TypeNode imports whatever it names: a function passes for a type."""
    return {"builtins.exec"}, dict_node({_code(c): json_node(1)}, type_node("builtins.exec"))


def builtins_exec_constructor(c: Path) -> tuple[set[str], Node]:
    """ConstructorFromReduceNode calls its own name with arguments from the file."""
    return {"builtins.exec (as ConstructorFromReduceNode)"}, _node(
        "ConstructorFromReduceNode", "builtins.exec", content=tuple_node(json_node(_code(c))))


def operator_attrgetter(c: Path) -> tuple[set[str], Node]:
    """attrgetter("os.system") on the os.path module, called through operator.call."""
    system = reduce_node("operator.call", operator_node("attrgetter", "os.system"),
                         type_node("os.path"))
    return {"operator.call", "operator.attrgetter (as OperatorFuncNode)", "os.path"}, \
        reduce_node("operator.call", system, json_node(f"touch '{c}'"))


def operator_methodcaller(c: Path) -> tuple[set[str], Node]:
    """methodcaller("system", cmd) applied to the os module."""
    return {"operator.call", "operator.methodcaller (as OperatorFuncNode)"}, reduce_node(
        "operator.call", operator_node("methodcaller", "system", f"touch '{c}'"), _os_module())


def functools_partial(c: Path) -> tuple[set[str], Node]:
    """partial(runstring, dict={}) as a dict key type: runstring(key, dict={})."""
    p = partial_node(func_node("numpy.testing._private.utils.runstring"), dict=dict_node({}))
    return {"numpy.testing._private.utils.runstring"}, dict_node({_code(c): json_node(1)}, p)


def method_chain(c: Path) -> tuple[set[str], Node]:
    """MethodNode looks attributes up by name: os.path -> .os -> .system, called on a key."""
    system = method_node(method_node(type_node("os.path"), "os"), "system")
    return {"os.path.system", "os.path.os"}, dict_node({f"touch '{c}'": json_node(1)}, system)


def nested_estimator_gadget(c: Path) -> tuple[set[str], Node]:
    """A real-looking Pipeline whose inner LogisticRegression has a gadget as an attribute."""
    lr = object_node("sklearn.linear_model._logistic.LogisticRegression", {
        "C": json_node(1.0), "class_weight": numpy_runstring(c)[1]})
    scaler = object_node("sklearn.preprocessing._data.StandardScaler", {"with_mean": json_node(True)})
    pipe = object_node("sklearn.pipeline.Pipeline", {"steps": list_node(
        tuple_node(json_node("scale"), scaler), tuple_node(json_node("clf"), lr))})
    return {"numpy.testing._private.utils.runstring"}, pipe


def old_protocol_function(c: Path) -> tuple[set[str], Node]:
    """Protocol 0's FunctionNode imports the name in its content, not the one it shows:
    here it shows numpy.add (a trusted ufunc) and imports builtins.exec."""
    fn = _node("FunctionNode", "numpy.add", content={"module_path": "builtins",
                                                     "function": "exec"})
    return {"skops protocol 0"}, dict_node({_code(c): json_node(1)}, fn)


CORPUS: list[Gadget] = [
    numpy_runstring, sklearn_testing_script, builtins_eval_key_type, builtins_exec_type_node,
    builtins_exec_constructor, operator_attrgetter, operator_methodcaller, functools_partial,
    method_chain, nested_estimator_gadget, old_protocol_function,
]


def _make(gadget: Gadget, tmp: Path) -> tuple[Path, Path, set[str]]:
    canary = tmp / "CANARY"
    expected, root = gadget(canary)
    protocol = 0 if gadget is old_protocol_function else 2
    return write_skops(tmp / gadget.__name__, root, protocol), canary, expected


def _assert_refusal(err: UntrustedModel, expected: set[str]) -> None:
    types = err.details.get("types", [])
    for name in expected:
        assert any(t == name or t.startswith(name) for t in types), (name, types)
        assert name.split(" (")[0] in err.message
    assert "trust=True" in err.message and "--trust-pickle" in err.message
    assert "loopml models trust" in err.message
    assert err.http_status == 403


@pytest.mark.parametrize("gadget", CORPUS, ids=lambda g: g.__name__)
def test_hostile_skops_refused_by_load(gadget: Gadget, tmp_path: Path) -> None:
    folder, canary, expected = _make(gadget, tmp_path)
    with pytest.raises(UntrustedModel) as e:
        models.load(str(folder))
    _assert_refusal(e.value, expected)
    assert not canary.exists()


@pytest.mark.parametrize("gadget", CORPUS, ids=lambda g: g.__name__)
def test_corpus_is_really_hostile(gadget: Gadget, tmp_path: Path) -> None:
    """Loaded with trust, each file runs its payload: the refusals above are what stop it."""
    folder, canary, _ = _make(gadget, tmp_path)
    with contextlib.suppress(Exception):  # the payload is no model; the point is the canary
        models.load(str(folder), trust=True).predict(np.zeros((1, 2)))
    deadline = time.time() + 10  # the sklearn gadget writes from a subprocess
    while not canary.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert canary.exists()


def test_hostile_skops_refused_at_serve_startup(tmp_path: Path) -> None:
    """``loopml serve`` loads every model at start-up (the lifespan); each hostile one stays
    unready with the refusal as its error, a request for it answers 403 naming the callable,
    and no payload runs."""
    from starlette.testclient import TestClient

    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, build_app

    served: dict[str, str] = {}
    canaries: list[Path] = []
    for gadget in CORPUS:
        folder, canary, _ = _make(gadget, tmp_path / gadget.__name__)
        served[gadget.__name__] = str(folder)
        canaries.append(canary)
    app = build_app(served, ServingSettings(), ServeOptions(grpc_port=None, log_dir=None))
    with TestClient(app, base_url="http://127.0.0.1") as client:  # runs the lifespan: every model is loaded here
        for name in served:
            assert client.get(f"/v2/models/{name}/ready").status_code != 200
            r = client.post(f"/v2/models/{name}/infer", json={"inputs": [
                {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.0, 0.0]}]})
            assert r.status_code == 403, (name, r.status_code, r.text)
            assert "Refusing to load" in r.json()["error"] and "trust=True" in r.json()["error"]
    assert not any(c.exists() for c in canaries)


# ---- generative: every public numpy/scipy/sklearn callable not on the allow-list ----------
_SKIP_PARTS = {"tests", "conftest", "setup", "distutils"}


def _public_modules(root: str) -> Iterator[Any]:
    pkg = importlib.import_module(root)
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, root + "."):
        if any(p.startswith("_") or p in _SKIP_PARTS for p in info.name.split(".")):
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception:  # noqa: S112 - optional backends (cupy, dask) are not installed
            continue


def public_callables() -> set[str]:
    """``module.name`` (as skops spells it) of every public callable reachable from a public
    numpy, scipy or sklearn module and defined in one of the three."""
    names: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for root in ("numpy", "scipy", "sklearn"):
            for mod in _public_modules(root):
                for attr, obj in inspect.getmembers(mod):
                    if attr.startswith("_") or not callable(obj):
                        continue
                    m, n = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
                    if isinstance(m, str) and isinstance(n, str) and \
                            m.split(".")[0] in ("numpy", "scipy", "sklearn"):
                        names.add(f"{m}.{n}")
    return names


def test_every_public_callable_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    t0 = time.time()
    names = sorted(public_callables())
    policy = default_policy()
    tried = 0
    for loader, build in (("LossNode", lambda n: reduce_node(n, json_node("x"))),
                          ("FunctionNode", func_node)):
        expected = [n for n in names if not policy.allows(loader, n)]
        for i in range(0, len(expected), 500):
            batch = expected[i:i + 500]
            folder = write_skops(tmp_path / f"{loader}{i}", list_node(*map(build, batch)))
            with pytest.raises(UntrustedModel) as e:
                models.load(str(folder))
            assert set(batch) <= set(e.value.details["types"]), \
                set(batch) - set(e.value.details["types"])
            tried += len(batch)
    elapsed = time.time() - t0
    print(f"{len(names)} public callables, {tried} refusals checked in {elapsed:.1f} s")
    assert len(names) > 3000 and tried > 6000
    assert "numpy.testing._private.utils.runstring" in names


def test_allow_list_names_classes_not_functions() -> None:
    """Exact names only (no prefixes), and every name a loader may *call* is a class; the
    only functions are the ufuncs skops trusts and sklearn's check_array, both as references."""
    policy = default_policy()
    for loader, allowed in policy.by_loader.items():
        for name in allowed:
            assert not name.endswith(".") and "*" not in name
            module, attr = _split(name)
            obj = getattr(importlib.import_module(module), attr)
            if loader in ("FunctionNode", "PartialNode"):
                assert isinstance(obj, (np.ufunc, type)) or name == \
                    "sklearn.utils.validation.check_array" or type(obj).__name__ == \
                    "ufunc_wrapper", name
            else:
                assert isinstance(obj, type), (loader, name)


# ---- other flavors ---------------------------------------------------------------------
def _onnx_with_external(folder: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"onnx": {"data": "model.onnx"}}}))
    return folder


def _point_external_data(folder: Path, location: str) -> None:
    import onnx

    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_onnx_external_data_cannot_leave_the_model_folder(where: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    folder = _onnx_with_external(tmp_path / "m")
    secret = tmp_path / "secret.bin"
    secret.write_bytes((folder / "weights.bin").read_bytes())  # a file ORT could read as W
    location = {"dotdot": "../secret.bin", "absolute": str(secret), "symlink": "link.bin"}[where]
    if where == "symlink":
        (folder / "link.bin").symlink_to(secret)
    _point_external_data(folder, location)
    with pytest.raises(UntrustedModel) as e:
        models.load(str(folder))
    assert location in e.value.message and "trust=True" in e.value.message


def test_onnx_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    folder = _onnx_with_external(tmp_path / "m")
    got = models.load(str(folder)).predict(np.ones((1, 3), dtype=np.float32))
    np.testing.assert_allclose(got, [[6.0, 9.0]])


def test_torchscript_needs_trust(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    models.save_model(torch.nn.Linear(3, 2), tmp_path / "m",
                      input_example=np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(UntrustedModel, match="TorchScript") as e:
        models.load(str(tmp_path / "m"))
    assert "trust=True" in e.value.message
    assert models.load(str(tmp_path / "m"), trust=True).predict(np.zeros((1, 3))).shape == (1, 2)


def _booster_folder(tmp: Path, flavor: str, file: str, data: bytes) -> Path:
    tmp.mkdir()
    (tmp / file).write_bytes(data)
    (tmp / "MLmodel").write_text(yaml.safe_dump({"flavors": {flavor: {"data": file}}}))
    return tmp


def test_lightgbm_and_xgboost_read_only_their_own_formats(tmp_path: Path) -> None:
    """A file in any other format (an unrecognised pickle variant included) is never handed
    to the framework's loader untrusted."""
    lz4_like = b"\x04\x22\x4d\x18" + b"\x00" * 64  # joblib's lz4 pickles are not detected
    with pytest.raises(InvalidParameterValue, match="not a LightGBM text model"):
        models.load(str(_booster_folder(tmp_path / "lgb", "lightgbm", "model.lgb", lz4_like)))
    with pytest.raises(InvalidParameterValue, match="neither an XGBoost JSON nor a UBJSON"):
        models.load(str(_booster_folder(tmp_path / "xgb", "xgboost", "model.ubj", lz4_like)))
