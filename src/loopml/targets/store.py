"""Target profiles, stored and versioned in the metadata store.

Each version of a profile is one run in the experiment ``loopml-targets`` (tags
``loopml.target.name``, ``loopml.target.version`` and the validated spec as JSON in
``loopml.target.spec``). Runs were chosen over a new table because they work unchanged on
every backend (SQLite, PostgreSQL, and a remote ``loopml server`` through the REST store),
keep history (a new version never overwrites an old one), and show in the dashboard.
Profiles are per workspace: experiment names are unique per workspace, so each workspace
has its own ``loopml-targets`` experiment (made on first use in that workspace), and a
profile of one workspace is never found from another.
Versions are numbered 1, 2, ... per name; a version number taken by a concurrent writer is
detected on read-back and retried.
"""

from __future__ import annotations

import json
from typing import Any

from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.targets.profile import _NAME, TargetProfile, profile_from_dict

EXPERIMENT = "loopml-targets"
TAG_NAME, TAG_VERSION, TAG_SPEC = "loopml.target.name", "loopml.target.version", "loopml.target.spec"


class ProfileStore:
    """Create, read and list target profiles through a ``TrackingClient``."""

    def __init__(self, client: Any = None) -> None:
        if client is None:
            from loopml.tracking._fluent import client as default

            client = default()
        self.client = client
        self._exp_ids: dict[str, str] = {}  # by workspace: one instance may serve several

    def _experiment(self) -> str:
        from loopml.security.workspaces import current_workspace

        ws = current_workspace()
        if ws not in self._exp_ids:
            self._exp_ids[ws] = str(
                self.client.get_or_create_experiment(EXPERIMENT).experiment_id)
        return self._exp_ids[ws]

    def _runs(self, name: str | None = None) -> list[Any]:
        filt = f"tags.`{TAG_NAME}` = '{name}'" if name else None
        return list(self.client.search_runs([self._experiment()], filt, max_results=5000))

    def create(self, profile: TargetProfile) -> int:
        """Store ``profile`` as the next version of its name; return the version number."""
        spec = json.dumps(profile.to_dict(), sort_keys=True)
        for _ in range(5):
            version = 1 + max((int(r.data.tags.get(TAG_VERSION, 0)) for r in
                               self._runs(profile.name)), default=0)
            run = self.client.create_run(self._experiment(),
                                         run_name=f"{profile.name}-v{version}",
                                         tags={TAG_NAME: profile.name, TAG_VERSION: str(version),
                                               TAG_SPEC: spec, "loopml.kind": "target-profile"})
            self.client.terminate(run.info.run_id)
            same = [r for r in self._runs(profile.name)
                    if r.data.tags.get(TAG_VERSION) == str(version)]
            if min(r.info.run_id for r in same) == run.info.run_id:
                return version
            self.client.store.delete_run(run.info.run_id)  # lost the race: next number
        raise InvalidParameterValue(f"Could not number a new version of {profile.name!r}.")

    def get(self, name: str, version: int | None = None) -> tuple[TargetProfile, int]:
        """``(profile, version)``: the given version, else the newest. ``name@3`` works too."""
        if version is None and "@" in name:
            name, _, v = name.partition("@")
            if not v.isdigit():
                raise InvalidParameterValue(f"Profile version in {name}@{v} must be a number.")
            version = int(v)
        if not _NAME.match(name):  # else '' would match every profile, and a quote the filter
            raise ResourceDoesNotExist(
                f"No target profile {name!r}: a stored profile is NAME or NAME@VERSION, NAME "
                "being 1-100 letters, digits, '_', '-' or '.' (see `loopml target list`); a "
                "profile file must exist.")
        runs = self._runs(name)
        if version is not None:
            runs = [r for r in runs if r.data.tags.get(TAG_VERSION) == str(version)]
        if not runs:
            known = sorted({r.data.tags.get(TAG_NAME, "") for r in self._runs()})
            from loopml._config import suggest

            what = f"{name} version {version}" if version else name
            hint = suggest(name, known)
            end = " " if hint.endswith("?") else ". "  # no "?." after a suggestion
            raise ResourceDoesNotExist(
                f"No target profile {what!r}{hint}{end}Create one with `loopml target create` "
                "or `loopml target probe --save`.")
        best = max(runs, key=lambda r: int(r.data.tags.get(TAG_VERSION, 0)))
        spec = json.loads(best.data.tags[TAG_SPEC])
        return profile_from_dict(spec, f"profile {name}"), int(best.data.tags[TAG_VERSION])

    def list(self) -> list[dict[str, Any]]:
        """One row per profile name: ``name``, ``latest`` version, ``versions`` count."""
        rows: dict[str, dict[str, Any]] = {}
        for r in self._runs():
            name, v = r.data.tags.get(TAG_NAME), int(r.data.tags.get(TAG_VERSION, 0))
            if not name:
                continue
            row = rows.setdefault(name, {"name": name, "latest": 0, "versions": 0})
            row["latest"], row["versions"] = max(row["latest"], v), row["versions"] + 1
        return sorted(rows.values(), key=lambda x: x["name"])


__all__ = ["EXPERIMENT", "ProfileStore"]
