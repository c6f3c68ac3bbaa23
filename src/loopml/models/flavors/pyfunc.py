"""The generic python-function flavor: any object with ``predict``, stored with cloudpickle.

Pickle by nature, so loading always needs trust. MLflow's ``loader_module`` and ``code``
keys name Python modules to import: loopml never imports a module named by a model file;
it maps MLflow's known loader modules to its own flavors instead (see ``_load``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.models._integrity import refuse_untrusted
from loopml.models.flavors.base import Flavor, data_file

NAME = "python_function"


class PythonModelPredictor:
    """MLflow's PythonModel calls predict(context, model_input); plain objects predict(x)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        if hasattr(obj, "load_context"):
            obj.load_context(None)

    def predict(self, data: Any) -> Any:
        try:
            return self.obj.predict(None, data)
        except TypeError:
            return self.obj.predict(data)


class PyFuncFlavor(Flavor):
    name = NAME
    packages = ("cloudpickle",)

    def handles(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path, **options: Any) -> dict[str, Any]:
        import cloudpickle

        with open(folder / "python_model.pkl", "wb") as fh:
            cloudpickle.dump(model, fh)
        return {"python_model": "python_model.pkl", "loader_module": "mlflow.pyfunc.model",
                "cloudpickle_version": self.conf_version()}

    def load(self, folder: Path, conf: dict[str, Any], trust: bool) -> Any:
        path = data_file(folder, conf, "python_model", "python_model.pkl")
        if not trust:
            raise refuse_untrusted(path, "a python_function model is a cloudpickle file")
        from loopml.models.flavors.sklearn import load_pickle

        return PythonModelPredictor(load_pickle(path))
