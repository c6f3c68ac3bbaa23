"""Labeling and active learning: a queue of logged requests ranked by what a label is worth
(uncertainty, champion-challenger disagreement, drifted regions), labels stored as feedback
(so live quality and retraining use them) with the model's pre-label and whether it was
corrected, and Label Studio JSON import/export. See docs/labeling.md.

    from loopml.labeling import LabelingService
    svc = LabelingService(monitoring_store, labeling_store, lambda dep: ".loopml/inference")
    items = svc.queue("fraud", strategy="margin", limit=20)
    svc.label("fraud", items[0].request_id, 1, prelabel=items[0].prelabel, labeler="ana")
"""

from loopml.labeling._scores import (
    STRATEGIES,
    UNCERTAINTY,
    disagreement,
    drift_region,
    entropy,
    least_confidence,
    margin,
)
from loopml.labeling.labelstudio import export_tasks, import_tasks, label_config
from loopml.labeling.queue import QueueItem, candidates, coerce_label, rank, split_output
from loopml.labeling.service import LabelingService, get_labeling_store

__all__ = [
    "STRATEGIES", "UNCERTAINTY", "LabelingService", "QueueItem", "candidates", "coerce_label",
    "disagreement", "drift_region", "entropy", "export_tasks", "get_labeling_store",
    "import_tasks", "label_config", "least_confidence", "margin", "rank", "split_output",
]
