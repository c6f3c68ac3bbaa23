"""``RestRegistryStore``: the registry interface over the MLflow registry REST API of a loopml
server (and, for everything but the trust mark, any MLflow server). It reuses the tracking
``RestStore``'s HTTP client, credentials and error mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopml.entities import ModelVersion, PagedList, RegisteredModel
from loopml.store.registry_base import SEARCH_MODEL_VERSIONS_MAX, RegistryStore
from loopml.store.rest import RestStore

_RM = "/api/2.0/mlflow/registered-models"
_MV = "/api/2.0/mlflow/model-versions"
_TRUST = "/api/loopml/v1/model-versions/trust"


def _kv(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {x["key"]: x.get("value", "") for x in items or []}


def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in (tags or {}).items()]


def _version(d: dict[str, Any], trusted: bool = False) -> ModelVersion:
    return ModelVersion(
        name=d["name"], version=int(d["version"]),
        creation_timestamp=int(d.get("creation_timestamp", 0)),
        last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
        source=d.get("source", ""), storage_location=d.get("source", ""),
        current_stage=d.get("current_stage", "None"), description=d.get("description"),
        user_id=d.get("user_id"), run_id=d.get("run_id") or None, run_link=d.get("run_link"),
        model_id=d.get("model_id"), status=d.get("status", "READY"),
        status_message=d.get("status_message"), trusted=trusted, tags=_kv(d.get("tags")),
        aliases=tuple(d.get("aliases", [])),
    )


def _model(d: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=d["name"], creation_timestamp=int(d.get("creation_timestamp", 0)),
        last_updated_timestamp=int(d.get("last_updated_timestamp", 0)),
        description=d.get("description"), tags=_kv(d.get("tags")),
        aliases={a["alias"]: int(a["version"]) for a in d.get("aliases", [])},
        latest_versions=tuple(_version(v) for v in d.get("latest_versions", [])),
    )


class RestRegistryStore(RegistryStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._rest._call(method, path, body)

    def _with_location(self, d: dict[str, Any]) -> ModelVersion:
        """A version's JSON has its source; its storage location needs one more call."""
        v = _version(d)
        uri = self._call("GET", f"{_MV}/get-download-uri",
                         {"name": v.name, "version": str(v.version)})["artifact_uri"]
        trusted = bool(self._call("GET", _TRUST, {"name": v.name, "version": str(v.version)})
                       .get("trusted", False))
        return ModelVersion(**{**v.__dict__, "storage_location": uri, "trusted": trusted})

    # ---- registered models ---------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        body: dict[str, Any] = {"name": name, "tags": _tags(tags)}
        if description is not None:
            body["description"] = description
        return _model(self._call("POST", f"{_RM}/create", body)["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _model(self._call("GET", f"{_RM}/get", {"name": name})["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        d = self._call("POST", f"{_RM}/rename", {"name": name, "new_name": new_name})
        return _model(d["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        d = self._call("PATCH", f"{_RM}/update", {"name": name, "description": description})
        return _model(d["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", f"{_RM}/delete", {"name": name})

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        d = self._call("GET", f"{_RM}/search", {
            "filter": filter_string, "max_results": max_results,
            "order_by": list(order_by or []) or None, "page_token": page_token})
        return PagedList([_model(m) for m in d.get("registered_models", [])],
                         d.get("next_page_token") or None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", f"{_RM}/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{_RM}/delete-tag", {"name": name, "key": key})

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        d = self._call("POST", f"{_RM}/get-latest-versions",
                       {"name": name, "stages": list(stages or [])})
        return [_version(v) for v in d.get("model_versions", [])]

    # ---- versions -----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        storage_location: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        # The server resolves and confines the source itself; storage_location is its job.
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tags(tags)}
        for k, v in (("run_id", run_id), ("run_link", run_link), ("description", description),
                     ("model_id", model_id)):
            if v is not None:
                body[k] = v
        return self._with_location(self._call("POST", f"{_MV}/create", body)["model_version"])

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        d = self._call("GET", f"{_MV}/get", {"name": name, "version": str(version)})
        return self._with_location(d["model_version"])

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        d = self._call("PATCH", f"{_MV}/update",
                       {"name": name, "version": str(version), "description": description})
        return _version(d["model_version"])

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        d = self._call("POST", f"{_MV}/transition-stage", {
            "name": name, "version": str(version), "stage": stage,
            "archive_existing_versions": archive_existing_versions})
        return _version(d["model_version"])

    def delete_model_version(self, name: str, version: int | str) -> None:
        self._call("DELETE", f"{_MV}/delete", {"name": name, "version": str(version)})

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        d = self._call("GET", f"{_MV}/search", {
            "filter": filter_string, "max_results": max_results,
            "order_by": list(order_by or []) or None, "page_token": page_token})
        return PagedList([_version(v) for v in d.get("model_versions", [])],
                         d.get("next_page_token") or None)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        self._call("POST", f"{_MV}/set-tag",
                   {"name": name, "version": str(version), "key": key, "value": value})

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self._call("DELETE", f"{_MV}/delete-tag",
                   {"name": name, "version": str(version), "key": key})

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        d = self._call("GET", f"{_MV}/get-download-uri", {"name": name, "version": str(version)})
        return str(d["artifact_uri"])

    def set_model_version_trusted(self, name: str, version: int | str, trusted: bool) -> None:
        self._call("POST", _TRUST, {"name": name, "version": str(version), "trusted": trusted})

    # ---- aliases -------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        self._call("POST", f"{_RM}/alias",
                   {"name": name, "alias": alias, "version": str(version)})

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{_RM}/alias", {"name": name, "alias": alias})

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        d = self._call("GET", f"{_RM}/alias", {"name": name, "alias": alias})
        return self._with_location(d["model_version"])
