"""The models one server serves: loaded lazily, evicted least-recently-used under a memory
cap, each with its own batcher and readiness.

Loading runs in a thread (it reads files and may take seconds) under a per-model lock, so the
first requests for a model wait for one load instead of starting several.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopml.errors import ResourceDoesNotExist, ServiceUnavailable
from loopml.serving.batcher import Batcher
from loopml.serving.runtime import ServedModel, limit_native_threads


@dataclass
class ServingSettings:
    max_batch_size: int = 64
    max_batch_delay_s: float = 0.002
    max_queue: int = 2048
    memory_cap_bytes: int = 2 * 1024**3  # total model files kept loaded
    trust_pickle: bool = False
    prefer_onnx: bool = True
    convert_onnx: bool = False  # export models without an ONNX flavor at load (parity-checked)
    explain_budget_ms: float = 2000.0  # an explanation estimated to take longer is refused
    inline_below_ms: float = 1.0  # a lone request's native predict this quick skips the thread


@dataclass
class Entry:
    name: str
    uri: str
    model: ServedModel | None = None
    batcher: Batcher | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = 0.0
    error: str | None = None
    unloaded: bool = False  # by the repository API: requests get ModelUnloaded until a load

    @property
    def ready(self) -> bool:
        return self.model is not None


class ModelUnloaded(ServiceUnavailable):
    """A model unloaded through the repository API (HTTP 503, gRPC UNAVAILABLE)."""


class ModelRepository:
    def __init__(self, models: dict[str, str], settings: ServingSettings,
                 on_batch: Callable[[str, int, float], None] | None = None,
                 client: Callable[[], Any] | None = None) -> None:
        """``client()``: the TrackingClient ``models:/`` and ``runs:/`` URIs resolve
        through, opened at the first such URI (a server of model folders opens no store)."""
        self.settings = settings
        self.client = client
        self.entries = {name: Entry(name, uri) for name, uri in models.items()}
        self.on_batch = on_batch

    def names(self) -> list[str]:
        return sorted(n for n in self.entries if "::" not in n)  # deployment entries hidden

    def ensure(self, name: str, uri: str) -> Entry:
        """Add a model to serve (deployments add theirs as their spec changes)."""
        if name not in self.entries:
            self.entries[name] = Entry(name, uri)
        return self.entries[name]

    def entry(self, name: str) -> Entry:
        e = self.entries.get(name)
        if e is None:
            raise ResourceDoesNotExist(
                f"Model {name!r} is not served here. Served models: {self.names()}.")
        return e

    async def get(self, name: str, version: str | None = None) -> tuple[ServedModel, Batcher]:
        e = self.entry(name)
        if e.unloaded:
            raise ModelUnloaded(
                f"Model {name!r} is unloaded. Load it again with POST "
                f"/v2/repository/models/{name}/load (tritonclient: load_model).")
        if e.model is None:
            async with e.lock:
                if e.model is None:
                    await self._load(e)
        assert e.model is not None and e.batcher is not None
        if version is not None and version != e.model.version:
            raise ResourceDoesNotExist(
                f"Model {name!r} has no version {version!r} here; it serves version "
                f"{e.model.version}.")
        e.last_used = time.monotonic()
        return e.model, e.batcher

    async def _load(self, e: Entry) -> None:
        s = self.settings
        try:
            opener = self.client if e.uri.startswith(("models:/", "runs:/")) else None
            client = await asyncio.to_thread(opener) if opener is not None else None
            model = await asyncio.to_thread(ServedModel, e.name, e.uri, s.trust_pickle,
                                            s.prefer_onnx, None, s.convert_onnx, client)
        except Exception as exc:
            e.error = str(exc)
            raise
        e.error = None
        name, hook = e.name, self.on_batch
        e.batcher = Batcher(
            model.predict_rows, s.max_batch_size, s.max_batch_delay_s, s.max_queue,
            inline=model.model.flavor.name == "onnx",
            on_batch=(lambda n, dt: hook(name, n, dt)) if hook else None,
            predict_outputs=model.predict_outputs, thread_init=limit_native_threads,
            inline_below_s=s.inline_below_ms / 1000)
        e.model = model
        e.last_used = time.monotonic()
        await self._evict(keep=e)

    async def _evict(self, keep: Entry) -> None:
        loaded = [x for x in self.entries.values() if x.model is not None]
        total = sum(x.model.size_bytes for x in loaded if x.model)
        for victim in sorted(loaded, key=lambda x: x.last_used):
            if total <= self.settings.memory_cap_bytes:
                break
            if victim is keep or (victim.batcher and victim.batcher.depth):
                continue
            total -= victim.model.size_bytes if victim.model else 0
            if victim.batcher:
                await victim.batcher.stop()
            victim.model, victim.batcher = None, None

    # ---- the repository extension (Triton's model repository protocol) ---------------------
    def index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Every model this server may serve: ``{name, version, state, reason}`` with state
        READY or UNAVAILABLE (Triton's model repository index)."""
        out = []
        for n in self.names():
            e = self.entries[n]
            if e.model is not None:
                row = {"name": n, "version": e.model.version, "state": "READY", "reason": ""}
            else:
                reason = "unloaded" if e.unloaded else e.error or \
                    "not loaded yet (loads on its first request)"
                row = {"name": n, "version": "", "state": "UNAVAILABLE", "reason": reason}
            if not ready_only or row["state"] == "READY":
                out.append(row)
        return out

    async def load(self, name: str) -> None:
        """Load (or reload, re-resolving its URI) a model of the configured repository; a name
        not in it is a ResourceDoesNotExist. The old copy serves until the new one is in."""
        e = self.entry(name)
        if "::" in name:
            raise ResourceDoesNotExist(f"Model {name!r} is not in this server's repository.")
        async with e.lock:
            old = e.batcher
            e.unloaded = False
            await self._load(e)
        if old is not None and old is not e.batcher:
            await old.drain_and_stop()

    async def unload(self, name: str) -> None:
        """Stop serving a model until the next ``load``: queued requests finish first."""
        e = self.entry(name)
        if "::" in name:
            raise ResourceDoesNotExist(f"Model {name!r} is not in this server's repository.")
        async with e.lock:
            e.unloaded = True
            batcher, e.model, e.batcher = e.batcher, None, None
        if batcher is not None:
            await batcher.drain_and_stop()

    async def load_all(self) -> None:
        for name in self.names():
            await self.get(name)

    def status(self) -> dict[str, Any]:
        return {n: {"ready": e.ready, "uri": e.uri, "error": e.error, "unloaded": e.unloaded,
                    "version": e.model.version if e.model else None,
                    "runtime": e.model.model.flavor.name if e.model else None,
                    "onnx_conversion": e.model.conversion if e.model else None}
                for n, e in self.entries.items()}
