"""loopml.features: feature views, the online store (in-process, Redis), point-in-time
reads from the offline store, and the streaming sinks that fill both (docs/features.md).

    views = load_views("features.yaml")                  # or [FeatureView(...), ...]
    store = get_online_store("redis://127.0.0.1:6379/0", views)   # or "memory://"
    store.write("machine_stats", ["m1"], {"temp_avg": [71.5]}, event_ms=[1_700_000_000_000])
    store.get_online_features({"machine": ["m1"]}, ["machine_stats:temp_avg"])
    get_historical_features(labels, ["machine_stats:*"], views, source="s3://lake/features")
"""

from __future__ import annotations

from loopml.features.offline import as_of_join, get_historical_features, read_offline
from loopml.features.sinks import register_app_sinks
from loopml.features.store import OnlineStore, get_online_store, register_backend
from loopml.features.views import FeatureView, load_views, parse_refs, views_by_name

__all__ = ["FeatureView", "OnlineStore", "as_of_join", "get_historical_features",
           "get_online_store", "load_views", "parse_refs", "read_offline", "register_backend",
           "views_by_name"]

register_app_sinks()  # the online_store and offline_parquet sink kinds of streaming apps
