"""Models: MLflow-format model folders, safe loading, signatures, ONNX export.

    from loopml import models
    models.save_model(clf, "out/model", input_example=X[:5])
    m = models.load("models:/fraud@champion")
    m.predict(X)
"""

from loopml.models._integrity import ModelIntegrityError, UntrustedModel
from loopml.models._load import Model, load
from loopml.models._log import ModelInfo, log_model, register_model
from loopml.models._save import save_model
from loopml.models.signature import ModelSignature, SignatureMismatch, infer_signature

__all__ = [
    "Model", "ModelInfo", "ModelIntegrityError", "ModelSignature", "SignatureMismatch",
    "UntrustedModel", "infer_signature", "load", "log_model", "register_model", "save_model",
]
