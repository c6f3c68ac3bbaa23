"""Data: profiles, drift, schema inference and validation.

    from loopml import data
    report = data.detect_drift("train.parquet", "today.parquet")
    schema = data.infer_schema(train_df)
    anomalies = data.validate(today_df, schema)
"""

from loopml.data.drift import ColumnDrift, DriftReport, detect_drift
from loopml.data.profile import Profile, profile

__all__ = ["ColumnDrift", "DriftReport", "Profile", "detect_drift", "profile"]
