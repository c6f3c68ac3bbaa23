"""The model registry interface.

Backends: ``registry_sql.py`` (SQLite, PostgreSQL; shares the tracking store's database) and
``registry_rest.py`` (a loopml or MLflow server). Every backend passes
``loopml.testing.registry_contract``.

Contract, in short:
- names are case-sensitive; a missing model, version or alias raises ResourceDoesNotExist.
- version numbers start at 1 per model and are never reused, even after a delete.
- an alias names one version of its model; setting it again moves it; deleting the version
  deletes its aliases.
- ``source`` is stored as given; ``storage_location`` is where the files are. Callers
  resolve and confine the source before calling ``create_model_version`` (see
  ``loopml.registry.sources``), so the store never has to trust it.
- ``trusted`` is only changed by ``set_model_version_trusted``; no other call touches it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from loopml.entities import ModelVersion, PagedList, RegisteredModel

SEARCH_REGISTERED_MODELS_MAX = 1000
SEARCH_MODEL_VERSIONS_MAX = 10000


class RegistryStore(abc.ABC):
    # ---- registered models ---------------------------------------------------------------
    @abc.abstractmethod
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel: ...

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel: ...

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None: ...

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]: ...

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    @abc.abstractmethod
    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]: ...

    # ---- versions -----------------------------------------------------------------------
    @abc.abstractmethod
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
    ) -> ModelVersion: ...

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int | str) -> ModelVersion: ...

    @abc.abstractmethod
    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion: ...

    @abc.abstractmethod
    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion: ...

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int | str) -> None: ...

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]: ...

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None: ...

    @abc.abstractmethod
    def get_model_version_download_uri(self, name: str, version: int | str) -> str: ...

    @abc.abstractmethod
    def set_model_version_trusted(self, name: str, version: int | str, trusted: bool) -> None: ...

    # ---- aliases -------------------------------------------------------------------------
    @abc.abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None: ...

    @abc.abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; a no-op for backends that hold none."""
