"""The labeling loop over REST, under ``/api/loopml/v1/labeling/{deployment}/...``:

| route | permission | what |
|---|---|---|
| ``GET  queue?strategy=&limit=&since_ms=&seed=`` | READ (viewer) | the next items and the classes |
| ``GET  stats`` | READ | labelled, skipped, confirmed, corrected, correction rate |
| ``GET  records?limit=`` | READ | the decisions, newest first |
| ``GET  export?which=queue|labeled&limit=&strategy=`` | READ | Label Studio tasks |
| ``POST labels`` ``{request_id, label, prelabel?, strategy?}`` or ``{items: [...]}`` | WRITE (editor) | store labels (and their feedback) |
| ``POST skip`` ``{request_id}`` | WRITE | skip an item |
| ``POST undo`` | WRITE | take back the caller's newest decision |
| ``POST import`` ``{tasks: [...]}`` | WRITE | labels from a Label Studio export |

The labeler recorded is the caller (the authenticated subject). The server finds a
deployment's inference log in its monitor specs (``--monitors``) or loop policies
(``--policies``); a request never names a folder. Strategy ``drift`` uses the reference
profile of the deployment's monitor (a profile file). Re-scoring with a model is not done
here (loading models on a request is the data plane's job): rank by logged probabilities,
shadow answers, drift or at random, or re-score with ``loopml label queue --model``."""

from __future__ import annotations

from typing import Any

from loopml.errors import InvalidParameterValue, ResourceDoesNotExist, invalid_param
from loopml.labeling import LabelingService, get_labeling_store
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services
from loopml.store.labeling_base import LabelInput

_PREFIX = ("/api/loopml/v1",)
_BASE = "/labeling/{deployment}"


def log_dir_for(s: Services, deployment: str) -> str:
    """The inference-log folder of ``deployment`` from the server's monitors and loop
    policies. Raises ``ResourceDoesNotExist`` naming what to configure."""
    for spec in [*s.monitor_specs, *s.policies]:
        if getattr(spec, "deployment", None) == deployment and getattr(spec, "log_dir", None):
            return str(spec.log_dir)
    raise ResourceDoesNotExist(
        f"This server knows no inference log for deployment {deployment!r}: start it with "
        "--monitors (or --policies) naming the deployment and its log_dir.")


def reference_for(s: Services, deployment: str) -> Any:
    """The reference profile of the deployment's monitor (a profile file), or None."""
    from loopml.data._log import load_profile

    for spec in s.monitor_specs:
        ref = getattr(spec, "reference_profile", None)
        if getattr(spec, "deployment", None) == deployment and ref and ref != "champion" \
                and not str(ref).startswith("models:/"):
            return load_profile(ref)
    return None


def labeling_service(s: Services) -> LabelingService:
    return LabelingService(s.monitoring, get_labeling_store(s.store),
                           lambda d: log_dir_for(s, d))


def _deployment(b: Body) -> str:
    d = b.req_text("deployment")
    if len(d) > 256:
        raise invalid_param("deployment", b.where, "a deployment name (1 to 256 characters)", d)
    return d


def _labeler(b: Body) -> str:
    return (b.caller.subject or "anonymous")[:255]


def queue_view(s: Services, b: Body, remaining: bool = False) -> dict[str, Any]:
    """The queue and the classes, as the queue route and the dashboard page read them;
    with ``remaining``, also how many distinct rows are left to label."""
    dep, strategy = _deployment(b), b.text("strategy", default="entropy") or "entropy"
    svc = labeling_service(s)
    cands = svc.candidates(dep, b.int_or("since_ms", 0))
    ref = reference_for(s, dep) if strategy == "drift" else None
    items = svc.queue(dep, strategy, b.int_or("limit", 20), reference=ref,
                      seed=b.int_or("seed", 0), cands=cands)
    out: dict[str, Any] = {"items": [i.to_dict() for i in items],
                           "classes": svc.classes(dep, cands)}
    if remaining:
        out["remaining"] = len(svc.queue(dep, "random", 10_000, cands=cands)) if items else 0
    return out


def routes(s: Services) -> list[PermissionedRoute]:
    def queue(b: Body) -> dict[str, Any]:
        """The next items to label, best first, and the classes seen."""
        return queue_view(s, b)

    def stats(b: Body) -> dict[str, Any]:
        """Labelled, skipped, confirmed and corrected counts and the correction rate."""
        return labeling_service(s).stats(_deployment(b)).to_dict()

    def records(b: Body) -> dict[str, Any]:
        """The deployment's labeling decisions, newest first."""
        limit = b.int_or("limit", 1000)
        if not 1 <= limit <= 10_000:
            raise invalid_param("limit", b.where, "an int in [1, 10000]", limit)
        recs = labeling_service(s).labeling.records(_deployment(b), limit)
        return {"records": [r.to_dict() for r in recs]}

    def export(b: Body) -> dict[str, Any]:
        """Label Studio tasks: the queue (with pre-labels) or the labelled requests."""
        dep = _deployment(b)
        limit = b.int_or("limit", 100)
        if not 1 <= limit <= 10_000:
            raise invalid_param("limit", b.where, "an int in [1, 10000]", limit)
        return {"tasks": labeling_service(s).export(
            dep, b.text("which", default="queue") or "queue", limit,
            b.text("strategy", default="entropy") or "entropy")}

    def labels(b: Body) -> dict[str, Any]:
        """Store labels: {request_id, label, prelabel?, strategy?} or {items: [...]}."""
        dep, who = _deployment(b), _labeler(b)
        raw = b.objects("items") if "items" in b.data else [b]
        if not raw:
            raise invalid_param("items", b.where, "a non-empty list of {request_id, label}",
                                [])
        items = []
        for x in raw:  # JSON carries the label's type: no coercion here
            items.append(LabelInput(x.req_text("request_id"), dep, "label", x.data.get("label"),
                                    x.data.get("prelabel"), who, "api",
                                    x.text("strategy", default="") or ""))
        return {"stored": labeling_service(s).labeling.record(items)}

    def skip(b: Body) -> dict[str, Any]:
        """Skip an item: it leaves the queue (undo brings it back)."""
        labeling_service(s).skip(_deployment(b), b.req_text("request_id"), _labeler(b))
        return {"skipped": True}

    def undo(b: Body) -> dict[str, Any]:
        """Take back the caller's newest decision on the deployment."""
        rec = labeling_service(s).undo(_deployment(b), _labeler(b))
        return {"undone": None if rec is None else rec.to_dict()}

    def import_(b: Body) -> dict[str, Any]:
        """Labels from Label Studio tasks: {tasks: [...]}."""
        tasks = b.data.get("tasks")
        if not isinstance(tasks, list):
            raise invalid_param("tasks", b.where, "a list of Label Studio tasks", tasks)
        dep = _deployment(b)
        for i, t in enumerate(tasks):
            data = t.get("data") if isinstance(t, dict) else None
            if isinstance(data, dict) and data.get("deployment") not in (None, dep):
                raise InvalidParameterValue(
                    f"tasks[{i}] is for deployment {data.get('deployment')!r}, not {dep!r}: "
                    "import it under its own deployment.")
        got = labeling_service(s).import_tasks(tasks, dep, labeler=_labeler(b))
        return {"stored": len(got.labels), "left_out": got.left_out}

    return [
        *api(s, f"{_BASE}/queue", "GET", P.READ, queue, _PREFIX),
        *api(s, f"{_BASE}/stats", "GET", P.READ, stats, _PREFIX),
        *api(s, f"{_BASE}/records", "GET", P.READ, records, _PREFIX),
        *api(s, f"{_BASE}/export", "GET", P.READ, export, _PREFIX),
        *api(s, f"{_BASE}/labels", "POST", P.WRITE, labels, _PREFIX, max_objects=20_000),
        *api(s, f"{_BASE}/skip", "POST", P.WRITE, skip, _PREFIX),
        *api(s, f"{_BASE}/undo", "POST", P.WRITE, undo, _PREFIX),
        *api(s, f"{_BASE}/import", "POST", P.WRITE, import_, _PREFIX),
    ]


__all__ = ["labeling_service", "log_dir_for", "queue_view", "reference_for", "routes"]
