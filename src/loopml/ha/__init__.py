"""A highly available control plane: leader election through the metadata store, fencing
of the leader's writes, and the runner that starts and stops the background work with the
leadership (docs/ha.md)."""

from __future__ import annotations

from loopml.ha.election import Elector, SingleElector, elector_for, replica_id
from loopml.ha.fence import LEASE, Deposed, install_fence
from loopml.ha.runner import LeaderRunner

__all__ = ["LEASE", "Deposed", "Elector", "LeaderRunner", "SingleElector", "elector_for",
           "install_fence", "replica_id"]
