"""Garbage-collector settings for long-running server processes."""

from __future__ import annotations

import gc
import os

# Young-generation threshold for servers. CPython's default (700) runs a young collection
# every 700 net allocations: a 20k-point metric history or a 1,000-run search page allocates
# over 100k objects and paid well over a hundred collections, plus full-heap ones.
_THRESHOLD0 = 50_000


def tune_for_serving() -> None:
    """Freeze the start-up heap and collect young objects less often.

    After imports a server holds hundreds of thousands of long-lived objects (SQLAlchemy,
    Starlette, numpy, the route table). ``gc.freeze()`` moves them to a permanent generation
    that later collections skip, so a full collection no longer rescans them; measured on
    a 20k-point history, collection was half of the request's time before (45-140 ms with
    the defaults, 22 ms with the collector off). Reference cycles are still collected.
    ``LOOPML_GC_THRESHOLD=0`` leaves CPython's defaults alone.
    """
    threshold = int(os.environ.get("LOOPML_GC_THRESHOLD", _THRESHOLD0))
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, t1, t2 = gc.get_threshold()
    gc.set_threshold(threshold, t1, t2)
