"""Feature views: which features an entity has, their types, and how long a value stays
valid. Declared in YAML or Python, validated once (pydantic) with messages that name the
key and say what to do.

YAML (``features.yaml``; a list under ``views:``, or one view)::

    views:
      - name: machine_stats
        entity: machine               # the entity key column
        ttl: 10m                      # a value older than this (event time) reads as missing
        features: {temp_avg: float64, temp_max: float64, n: int64, state: str}

Python::

    FeatureView(name="machine_stats", entity="machine", ttl="10m",
                features={"temp_avg": "float64", "n": "int64"})

A feature is referred to as ``"view:feature"`` (Feast's ``feature_view:feature`` form).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loopml._config import read_yaml, suggest, validate
from loopml.errors import InvalidParameterValue
from loopml.streaming.rules import parse_duration

#: Feature dtypes and the numpy dtype each one reads back as (``str`` as Python objects).
DTYPES: dict[str, str] = {"float64": "float64", "float32": "float32", "int64": "int64",
                          "int32": "int32", "bool": "bool", "str": "object"}
_ALIASES = {"float": "float64", "double": "float64", "int": "int64", "long": "int64",
            "string": "str", "boolean": "bool"}


class FeatureView(BaseModel):
    """One view: ``name`` (an identifier), ``entity`` (the key column), ``features``
    ({name: dtype}, in order; dtypes ``float64 float32 int64 int32 bool str``), ``ttl``
    (milliseconds, or a duration such as ``10m``; None = no expiry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    entity: str = Field(min_length=1)
    features: dict[str, str] = Field(min_length=1)
    ttl: int | None = None
    description: str = ""

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, v: Any) -> Any:
        return None if v is None else parse_duration(v)

    @field_validator("features")
    @classmethod
    def _dtypes(cls, v: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, t in v.items():
            t = _ALIASES.get(str(t), str(t))
            if t not in DTYPES:
                raise ValueError(f"feature {name!r} has dtype {t!r}; use one of {sorted(DTYPES)}"
                                 + suggest(t, DTYPES))
            if not name.isidentifier():
                raise ValueError(f"feature name {name!r} must be an identifier")
            out[name] = t
        return out

    @functools.cached_property
    def schema_version(self) -> str:
        """A short hash of the feature names and dtypes: stored beside each value so that a
        value written under another schema is never read as this one."""
        text = ",".join(f"{k}:{v}" for k, v in self.features.items())
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def index(self, names: Iterable[str] | None) -> list[int]:
        """Positions of ``names`` (None: all) in the view's order; InvalidParameterValue for
        an unknown one."""
        order = list(self.features)
        if names is None:
            return list(range(len(order)))
        out = []
        for n in names:
            if n not in self.features:
                raise InvalidParameterValue(f"View {self.name!r} has no feature {n!r}; it has "
                                            f"{order}.{suggest(n, order)}")
            out.append(order.index(n))
        return out


class FeaturesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    views: list[FeatureView] = Field(min_length=1)


def load_views(path: str | Path) -> dict[str, FeatureView]:
    """The views of a YAML file, by name (``views: [...]``, a list, or a single view).
    Raises InvalidConfig naming the file and key path; a name used twice is refused."""
    raw = read_yaml(path)
    if isinstance(raw, list):
        raw = {"views": raw}
    elif isinstance(raw, dict) and "views" not in raw:
        raw = {"views": [raw]}
    parsed = validate(FeaturesFile, raw, str(path))
    return views_by_name(parsed.views, str(path))


def views_by_name(views: Iterable[FeatureView | Mapping[str, Any]], source: str = "views"
                  ) -> dict[str, FeatureView]:
    """``{name: view}``; mappings are validated. Raises InvalidConfig for a duplicate name."""
    from loopml.errors import InvalidConfig

    out: dict[str, FeatureView] = {}
    for v in views:
        view = v if isinstance(v, FeatureView) else validate(FeatureView, dict(v), source)
        if view.name in out:
            raise InvalidConfig(f"{source}: view {view.name!r} is declared twice; give each "
                                "view its own name.")
        out[view.name] = view
    return out


def parse_refs(features: Iterable[str], views: Mapping[str, FeatureView]
               ) -> dict[str, list[str]]:
    """``["view:feat", "view:*", "view"]`` -> ``{view: [feature, ...]}`` in request order.
    Raises InvalidParameterValue for an unknown view or feature."""
    out: dict[str, list[str]] = {}
    for ref in features:
        view_name, _, feat = str(ref).partition(":")
        view = views.get(view_name)
        if view is None:
            raise InvalidParameterValue(f"Unknown feature view {view_name!r} in {ref!r}; views: "
                                        f"{sorted(views)}.{suggest(view_name, views)}")
        names = list(view.features) if feat in ("", "*") else [feat]
        view.index(names)  # raises for an unknown feature
        out.setdefault(view_name, [])
        out[view_name] += [n for n in names if n not in out[view_name]]
    return out


__all__ = ["DTYPES", "FeatureView", "FeaturesFile", "load_views", "parse_refs", "views_by_name"]
