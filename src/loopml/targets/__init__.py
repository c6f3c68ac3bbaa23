"""Target-aware optimisation: target profiles, candidate variants of a model, an honest
measurement harness and selection under budgets (docs/targets.md).

    from loopml import targets
    profile = targets.probe("this-machine", budget_ms=5)
    report = targets.optimize("models:/fraud/3", profile, holdout=(X, y))
"""

from loopml.targets.profile import TargetProfile, load_profile, probe, profile_from_dict
from loopml.targets.store import ProfileStore

__all__ = ["ProfileStore", "TargetProfile", "load_profile", "probe", "profile_from_dict"]
