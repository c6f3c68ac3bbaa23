"""The dashboard's build request: any form either parses or fails with a message naming the
field (property-based), and build ids are the only folder names accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.automl import BuildInputError
from loopml.automl.jobs import BuildRequest, build_dir, read_progress

FIELDS = ["target_column", "task", "target", "p99_ms", "budget_s", "name", "other"]


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=12)),
       st.sampled_from(["a.csv", "b.parquet", "c.txt", "", "../x.csv"]))
def test_any_form_parses_or_names_the_problem(form: dict[str, str], filename: str) -> None:
    try:
        req = BuildRequest.from_form(form, filename)
    except BuildInputError as e:
        assert e.message
        return
    assert req.filename.lower().endswith((".csv", ".parquet")) and req.target_column
    assert 1 <= req.budget_s <= 3600


def test_only_build_ids_name_folders(tmp_path: Path) -> None:
    for bad in ("../etc", "abc", "0123456789ABCDEF", "0123456789abcdef/.."):
        with pytest.raises(BuildInputError):
            build_dir(tmp_path, bad)
    from loopml.errors import ResourceDoesNotExist

    with pytest.raises(ResourceDoesNotExist):
        read_progress(tmp_path, "0123456789abcdef")
