"""The MLflow ``MLmodel`` file: read, write, and the keys loopml adds.

loopml writes what MLflow writes (flavors, signature, input example, model_uuid,
utc_time_created, mlflow-compatible python_function flavor) and adds two keys MLflow keeps as
plain attributes and ignores: ``loopml_file_digests`` (sha256 of every file, checked at load)
and ``loopml_onnx`` (the parity check of an ONNX export).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loopml.errors import InvalidParameterValue

MLMODEL = "MLmodel"


@dataclass
class MLModel:
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    saved_input_example_info: dict[str, Any] | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    run_id: str | None = None
    artifact_path: str | None = None
    file_digests: dict[str, str] = field(default_factory=dict)
    onnx_parity: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys we keep but do not interpret

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update({"flavors": self.flavors, "model_uuid": self.model_uuid,
                  "utc_time_created": self.utc_time_created})
        if self.signature:
            d["signature"] = self.signature
        if self.saved_input_example_info:
            d["saved_input_example_info"] = self.saved_input_example_info
        if self.run_id:
            d["run_id"] = self.run_id
        if self.artifact_path:
            d["artifact_path"] = self.artifact_path
        if self.file_digests:
            d["loopml_file_digests"] = self.file_digests
        if self.onnx_parity:
            d["loopml_onnx"] = self.onnx_parity
        return d

    def save(self, folder: Path) -> None:
        (folder / MLMODEL).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, folder: Path) -> MLModel:
        path = folder / MLMODEL
        if not path.is_file():
            raise InvalidParameterValue(
                f"{folder} is not a model folder: it has no MLmodel file. Pass the folder that "
                "save_model/log_model wrote (it contains MLmodel)."
            )
        try:
            # safe_load: an MLmodel file is data, never a place for python tags.
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise InvalidParameterValue(f"{path} is not valid YAML: {e}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("flavors"), dict):
            raise InvalidParameterValue(f"{path} has no 'flavors' mapping; it is not an MLmodel.")
        known = {"flavors", "signature", "saved_input_example_info", "model_uuid",
                 "utc_time_created", "run_id", "artifact_path", "loopml_file_digests",
                 "loopml_onnx"}
        return cls(
            flavors=raw["flavors"], signature=raw.get("signature"),
            saved_input_example_info=raw.get("saved_input_example_info"),
            model_uuid=str(raw.get("model_uuid") or uuid.uuid4().hex),
            utc_time_created=str(raw.get("utc_time_created", "")),
            run_id=raw.get("run_id"), artifact_path=raw.get("artifact_path"),
            file_digests=dict(raw.get("loopml_file_digests") or {}),
            onnx_parity=raw.get("loopml_onnx"),
            extra={k: v for k, v in raw.items() if k not in known},
        )
