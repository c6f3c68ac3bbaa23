"""Data: profiles, drift, schema inference and validation.

    from loopml import data
    report = data.detect_drift("train.parquet", "today.parquet")
    schema = data.infer_schema(train_df)
    anomalies = data.validate(today_df, schema)
"""

from loopml.data._log import load_profile, load_schema, log_dataset
from loopml.data.drift import ColumnDrift, DriftReport, detect_drift
from loopml.data.profile import Profile, profile
from loopml.data.schema import Anomaly, ColumnSchema, DataSchema, infer_schema, validate

__all__ = [
    "Anomaly", "ColumnDrift", "ColumnSchema", "DataSchema", "DriftReport", "Profile",
    "detect_drift", "infer_schema", "load_profile", "load_schema", "log_dataset", "profile",
    "validate",
]
