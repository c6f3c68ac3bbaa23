"""The permission check's fast path (no workspace header: no parsing) answers exactly what
the one workspace rule (``workspaces.workspace_for``) answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from loopml.errors import InvalidParameterValue
from loopml.security import request_workspace
from loopml.security.workspaces import workspace_for

_values = st.one_of(st.none(), st.sampled_from(["", " ", "team-a", "*", "Bad Name", "default"]),
                    st.text(st.characters(max_codepoint=255, exclude_categories=("Cc",)),
                            max_size=12))  # header values are latin-1
_paths = st.one_of(st.sampled_from(["/ui", "/ui/models", "/uix", "/api/2.0/mlflow/runs/log-metric",
                                    "", "/"]), st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(header=_values, cookie=_values, path=_paths, plain=st.booleans())
def test_request_workspace_matches_the_rule(header: str | None, cookie: str | None,
                                            path: str, plain: bool) -> None:
    raw: dict[str, str] = {}
    if header is not None:
        raw["X-MLFLOW-WORKSPACE" if plain else "x-mlflow-workspace"] = header
    if cookie is not None:
        raw["cookie"] = f"loopml_workspace={cookie}"
    headers = raw if plain else Headers(raw)
    try:
        want = workspace_for(headers, path)
    except InvalidParameterValue:
        want = None
    got = request_workspace(headers, path)
    if want is not None:
        assert got == want
    else:  # an invalid header is returned as sent (no role is bound to it: denied)
        assert got == (header or "").strip() or got == "default"
