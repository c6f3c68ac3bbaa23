"""Objects logged as run artifacts without a local file: text, dicts (JSON/YAML), figures and
tables. Same file formats and semantics as MLflow 3's ``MlflowClient.log_text``,
``log_dict``, ``log_figure`` and ``log_table`` (mlflow/tracking/client.py), so a run logged by
either reads the same in both UIs and in ``mlflow.load_table``."""

from __future__ import annotations

import io
import json
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidParameterValue

if TYPE_CHECKING:
    from loopml.tracking._client import TrackingClient

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # MLflow's MLFLOW_LOGGED_ARTIFACTS
_TABLE_FORBIDDEN = ['"', "'", ",", ":", "[", "]", "{", "}"]  # MLflow's _check_artifact_file_string


def check_artifact_file(artifact_file: str) -> str:
    """The normalised run-relative posix path; raises InvalidParameterValue for an empty,
    absolute or ``..`` path (which would escape the run's artifact root)."""
    if not isinstance(artifact_file, str) or not artifact_file.strip() \
            or artifact_file.replace("\\", "/").endswith("/"):  # a folder, not a file
        raise InvalidParameterValue(
            f"artifact_file must be a run-relative file path such as 'dir/file.json'. Got {artifact_file!r}.")
    norm = posixpath.normpath(artifact_file.replace("\\", "/"))
    if norm.startswith("/") or norm == "." or norm.split("/")[0] == "..":
        raise InvalidParameterValue(
            f"artifact_file {artifact_file!r} must stay inside the run's artifacts: use a relative "
            "path without '..', such as 'dir/file.json'.")
    return norm


@contextmanager
def artifact_tmp_path(c: TrackingClient, run_id: str, artifact_file: str) -> Iterator[Path]:
    """Yield a temporary file path named like ``artifact_file``; what is written there is
    stored at ``artifact_file`` in the run's artifacts (MLflow's ``_log_artifact_helper``)."""
    dest = check_artifact_file(artifact_file)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / posixpath.basename(dest)
        yield path
        run = c.store.get_run(run_id)
        c.artifact_store(run.info.artifact_uri).put_file(dest, path)


def log_text(c: TrackingClient, run_id: str, text: str, artifact_file: str) -> None:
    """Store ``text`` (UTF-8) at ``artifact_file``."""
    with artifact_tmp_path(c, run_id, artifact_file) as p:
        p.write_text(text, encoding="utf-8")


def log_dict(c: TrackingClient, run_id: str, dictionary: Any, artifact_file: str) -> None:
    """Store ``dictionary`` as YAML when ``artifact_file`` ends in .yml/.yaml, else as JSON
    (indent 2; objects JSON cannot encode are written as their ``str``, as MLflow does)."""
    import yaml

    ext = posixpath.splitext(artifact_file)[1]
    with artifact_tmp_path(c, run_id, artifact_file) as p, open(p, "w", encoding="utf-8") as f:
        if ext in (".yml", ".yaml"):
            yaml.dump(dictionary, f, indent=2, default_flow_style=False)
        else:
            json.dump(dictionary, f, indent=2, default=str)


def log_figure(c: TrackingClient, run_id: str, figure: Any, artifact_file: str,
               save_kwargs: dict[str, Any] | None = None) -> None:
    """Store a matplotlib figure (or any object with ``savefig(path, **kw)``; the format
    follows the extension, e.g. .png or .svg), or a plotly figure (``.html`` through
    ``write_html``, images through ``write_image``)."""
    kw = dict(save_kwargs or {})
    ext = posixpath.splitext(artifact_file)[1]
    with artifact_tmp_path(c, run_id, artifact_file) as p:
        if callable(getattr(figure, "savefig", None)):
            figure.savefig(str(p), **kw)
        elif ext == ".html" and callable(getattr(figure, "write_html", None)):
            kw.setdefault("include_plotlyjs", "cdn")
            kw.setdefault("auto_open", False)
            figure.write_html(str(p), **kw)
        elif callable(getattr(figure, "write_image", None)):
            figure.write_image(str(p), **kw)
        else:
            raise InvalidParameterValue(
                f"log_figure needs a matplotlib or plotly figure (an object with savefig, "
                f"write_html or write_image). Got {type(figure).__name__}.")


def _as_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, dict):
        raise InvalidParameterValue(
            f"log_table data must be a pandas.DataFrame or a dict of column lists. Got {type(data).__name__}.")
    try:
        return pd.DataFrame(data)
    except ValueError as e:  # all scalars, e.g. {"inputs": "What is MLflow?"}: one row, as MLflow
        if any(isinstance(v, (list, tuple)) for v in data.values()):
            raise InvalidParameterValue(
                f"log_table columns must all have the same length; got lengths "
                f"{ {k: len(v) for k, v in data.items() if isinstance(v, (list, tuple))} } "
                f"({e}).") from None
        return pd.DataFrame([data])


def _read_table(raw: bytes, artifact_file: str) -> Any:
    import pandas as pd

    if artifact_file.endswith(".json"):
        return pd.read_json(io.StringIO(raw.decode("utf-8")), orient="split")
    return pd.read_parquet(io.BytesIO(raw))


def log_table(c: TrackingClient, run_id: str, data: Any, artifact_file: str) -> None:
    """Store ``data`` (a DataFrame or a dict of equal-length column lists) as a table:
    ``.json`` in pandas' split orient without index (``{"columns": [...], "data": [[...]]}``)
    or ``.parquet``. When ``artifact_file`` exists in the run the rows are appended to it.
    Records the table in the run's ``mlflow.loggedArtifacts`` tag like MLflow, so MLflow's
    UI lists it. Raises InvalidParameterValue for another extension or a forbidden character."""
    import pandas as pd

    for ch in _TABLE_FORBIDDEN:
        if ch in artifact_file:
            raise InvalidParameterValue(f"The artifact_file {artifact_file!r} contains forbidden character: {ch}")
    if not artifact_file.endswith((".json", ".parquet")):
        raise InvalidParameterValue(
            f"Invalid artifact file path {artifact_file!r}: a table is logged to a '.json' or "
            "'.parquet' file.")
    frame = _as_frame(data)
    dest = check_artifact_file(artifact_file)
    blobs = c.artifact_store(c.store.get_run(run_id).info.artifact_uri)
    if blobs.exists(dest):
        frame = pd.concat([_read_table(blobs.get_bytes(dest), dest), frame], ignore_index=True)
    with artifact_tmp_path(c, run_id, dest) as p:
        try:
            if dest.endswith(".json"):
                frame.to_json(p, orient="split", index=False, date_format="iso")
            else:
                frame.to_parquet(p, index=False)
        except (TypeError, ValueError, OverflowError) as e:
            raise InvalidParameterValue(f"log_table could not serialise the table to {dest}: {e}") from e
    tags = c.get_run(run_id).data.tags
    current = json.loads(tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
    entry = {"path": artifact_file, "type": "table"}
    if entry not in current:
        current.append(entry)
        c.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps(current))
