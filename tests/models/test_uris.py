"""Model URIs in Python: models:/name/N, @alias, stage, latest, runs:/, local paths, and
the registry's trust mark."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml import models
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.store import get_registry_store


@pytest.fixture
def embedded(embedded_home):  # type: ignore[no-untyped-def]
    import loopml.tracking._fluent as fluent

    return get_registry_store(fluent.client().store)


def test_uri_forms(embedded, iris) -> None:
    x, y = iris
    clf = LogisticRegression(max_iter=300).fit(x, y)
    with loopml.start_run():
        info1 = models.log_model(clf, "model", registered_model_name="iris")
    with loopml.start_run():
        models.log_model(clf, "model", registered_model_name="iris", input_example=x[:2])
    embedded.set_registered_model_alias("iris", "champion", 1)
    embedded.transition_model_version_stage("iris", 2, "Production")
    expected = clf.predict(x[:5]).tolist()
    for uri in (info1.model_uri, "models:/iris/1", "models:/iris@champion",
                "models:/iris/Production", "models:/iris/latest"):
        assert models.load(uri).predict(x[:5]).tolist() == expected, uri
    assert models.load("models:/iris/latest").signature is not None  # version 2 has one
    assert models.load("models:/iris/1").signature is None
    with pytest.raises(ResourceDoesNotExist):
        models.load("models:/iris@nobody")
    with pytest.raises(InvalidParameterValue, match="not a version number"):
        models.load("models:/iris/banana")
    with pytest.raises(InvalidParameterValue, match="neither"):
        models.load("/no/such/folder")


def test_registry_trust_mark_allows_pickles(embedded, iris) -> None:
    x, y = iris
    clf = LogisticRegression(max_iter=300).fit(x, y)
    with loopml.start_run():
        models.log_model(clf, "model", registered_model_name="pickled",
                         serialization_format="cloudpickle")
    with pytest.raises(models.UntrustedModel):
        models.load("models:/pickled/1")
    embedded.set_model_version_trusted("pickled", 1, True)
    assert np.array_equal(models.load("models:/pickled/1").predict(x[:3]), clf.predict(x[:3]))


def test_trust_never_comes_from_the_folder(embedded, tmp_path, iris) -> None:
    """A folder cannot declare itself trusted: extra MLmodel keys are ignored."""
    import yaml

    x, y = iris
    folder = tmp_path / "m"
    models.save_model(LogisticRegression(max_iter=300).fit(x, y), folder,
                      serialization_format="cloudpickle")
    meta = yaml.safe_load((folder / "MLmodel").read_text())
    meta["trusted"] = True
    meta["loopml_trusted"] = True
    (folder / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(models.UntrustedModel):
        models.load(str(folder))
    assert cloudpickle  # the folder really holds a cloudpickle file
