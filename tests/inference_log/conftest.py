from __future__ import annotations

from tests.artifacts.conftest import moto_endpoint, s3_bucket_uri

__all__ = ["moto_endpoint", "s3_bucket_uri"]
