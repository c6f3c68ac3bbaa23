"""A daemon thread that calls ``run_once`` every ``interval_s`` seconds until stopped: what
the server's monitor scheduler and pipeline trigger runner share."""

from __future__ import annotations

import threading
from typing import Any


class Poller:
    interval_s: float = 5.0

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def run_once(self) -> Any:
        raise NotImplementedError

    def before_first_pass(self) -> None:
        """Hook for work done once when the thread starts."""
        return None

    def _loop(self) -> None:
        from loopml.security.actor import SERVICE, acting_as, service_actor

        # What a background service writes (events, loop audit) names it as the actor.
        with acting_as(service_actor(self._thread.name), SERVICE):
            self.before_first_pass()
            while not self._stop.is_set():
                self.run_once()
                self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
