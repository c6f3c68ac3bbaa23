"""Traffic routing for deployments: weighted canaries, shadow models, sticky routing, and
live updates with no restart and no dropped request.

A deployment's routes become a cumulative-weight table; each request draws a point in
[0, 1): from a hash of the sticky header's value when the deployment names one and the
request carries it (the same key always lands on the same version while the weights hold),
otherwise at random. Shadow models get a copy of the request after the answer is sent; their
results go to the inference log only.

``DeploymentWatcher`` polls the deployment store. On a new revision it loads every model the
new spec needs *before* swapping the routing table (one reference assignment), so requests
in flight finish on the old table and new ones use the new one. A spec whose models fail to
load is not applied; the old one keeps serving and the error is reported: in the server's
readiness and, through ``report``, as a ``deployment.status`` event in the store's event log
(payload: revision, ready, routes, and for a failure the URI that did not load and why),
where the loop controller reads it to end a canary whose challenger cannot load.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loopml.entities import Deployment
from loopml.serving.repository import ModelRepository

log = logging.getLogger("loopml.serving.traffic")
STATUS_EVENT = "deployment.status"


def entry_name(deployment: str, model_uri: str) -> str:
    return f"{deployment}::{model_uri}"


@dataclass(frozen=True)
class Router:
    deployment: Deployment
    entries: tuple[str, ...]
    uris: tuple[str, ...]
    cumulative: tuple[float, ...]
    shadow: tuple[str, ...]

    @classmethod
    def build(cls, d: Deployment) -> Router:
        total = sum(r.weight for r in d.routes)
        acc, cum = 0.0, []
        for r in d.routes:
            acc += r.weight / total
            cum.append(acc)
        cum[-1] = 1.0
        return cls(d, tuple(entry_name(d.name, r.model_uri) for r in d.routes),
                   tuple(r.model_uri for r in d.routes), tuple(cum),
                   tuple(entry_name(d.name, u) for u in d.shadow))

    def choose(self, headers: Any) -> tuple[str, str]:
        """-> (repository entry, model URI) for one request."""
        key = headers.get(self.deployment.sticky_header) if self.deployment.sticky_header \
            else None
        point = (zlib.crc32(key.encode()) / 2**32) if key else random.random()
        i = min(bisect.bisect_right(self.cumulative, point), len(self.entries) - 1)
        # Zero-weight routes are never chosen: skip them when the draw lands on their edge.
        while self.deployment.routes[i].weight == 0 and i + 1 < len(self.entries):
            i += 1
        return self.entries[i], self.uris[i]


class DeploymentWatcher:
    def __init__(self, name: str, fetch: Callable[[str], Deployment], repo: ModelRepository,
                 routers: dict[str, Router], poll_s: float = 1.0,
                 report: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.name = name
        self.report = report
        self._reported: tuple[int, str | None] | None = None
        self.fetch = fetch
        self.repo = repo
        self.routers = routers
        self.poll_s = poll_s
        self.revision = 0
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> bool:
        """Apply the stored spec if it changed; True when a new revision went live."""
        d = await asyncio.to_thread(self.fetch, self.name)
        if d.revision == self.revision:
            return False
        needed = [(entry_name(d.name, u), u) for u in
                  [r.model_uri for r in d.routes] + list(d.shadow)]
        routes = [r.model_uri for r in d.routes] + list(d.shadow)
        uri = ""
        try:
            if d.env:  # before loading: a flavor may read its variables at load time
                from loopml.serving.deployment_env import apply_env

                await asyncio.to_thread(apply_env, d)
            for entry, uri in needed:
                self.repo.ensure(entry, uri)
                await self.repo.get(entry)  # load before any request is routed to it
        except Exception as e:
            self.error = f"revision {d.revision} not applied: {uri} did not load: {e}"
            log.error("deployment %s %s", self.name, self.error)
            await self._report(d.revision, {"ready": False, "routes": routes, "uri": uri,
                                            "error": f"{type(e).__name__}: {e}"})
            return False
        self.routers[self.name] = Router.build(d)  # the atomic switch
        self.revision, self.error = d.revision, None
        log.info("deployment %s now at revision %d", self.name, d.revision)
        await self._report(d.revision, {"ready": True, "routes": routes})
        return True

    async def _report(self, revision: int, status: dict[str, Any]) -> None:
        """Publish a revision's load status once (a failing revision is retried every poll;
        its status is not repeated). A report that fails is logged: serving goes on."""
        key = (revision, status.get("error"))
        if self.report is None or key == self._reported:
            return
        try:
            await asyncio.to_thread(self.report, self.name, {"revision": revision, **status})
            self._reported = key
        except Exception:
            log.exception("deployment %s: cannot report load status", self.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception as e:  # the store may be briefly unreachable: keep serving
                self.error = f"cannot read deployment: {e}"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
