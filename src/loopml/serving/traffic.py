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
load is not applied; the old one keeps serving and the error is reported.
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
                 routers: dict[str, Router], poll_s: float = 1.0) -> None:
        self.name = name
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
        try:
            for entry, uri in needed:
                self.repo.ensure(entry, uri)
                await self.repo.get(entry)  # load before any request is routed to it
        except Exception as e:
            self.error = f"revision {d.revision} not applied: {e}"
            log.error("deployment %s %s", self.name, self.error)
            return False
        self.routers[self.name] = Router.build(d)  # the atomic switch
        self.revision, self.error = d.revision, None
        log.info("deployment %s now at revision %d", self.name, d.revision)
        return True

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
