"""Artifacts in an S3-compatible object store (boto3, imported lazily: the ``s3`` extra).

Uploads go through boto3's managed transfer, which uses multipart upload for large streams;
an object becomes visible only when its upload completes, so readers never see a partial one.
The endpoint comes from ``LOOPML_S3_ENDPOINT_URL`` or MLflow's ``MLFLOW_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from loopml.artifacts._hashing import HashingReader
from loopml.artifacts._paths import confine, join
from loopml.artifacts.base import CHUNK_SIZE, BlobStore, FileInfo, PutResult
from loopml.artifacts.local import atomic_write
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist


class S3BlobStore(BlobStore):
    def __init__(self, uri: str, client: Any | None = None) -> None:
        if not uri.startswith("s3://"):
            raise InvalidParameterValue(f"Not an S3 URI: {uri!r}. Use s3://bucket/prefix.")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidParameterValue(f"S3 URI {uri!r} has no bucket name.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root_uri = uri.rstrip("/")
        if client is None:
            import boto3

            endpoint = os.environ.get("LOOPML_S3_ENDPOINT_URL") or os.environ.get(
                "MLFLOW_S3_ENDPOINT_URL"
            )
            client = boto3.client("s3", endpoint_url=endpoint)
        self.client = client

    def _key(self, path: str) -> str:
        return join(self.prefix, confine(path))

    def put_stream(self, path: str, stream: BinaryIO) -> PutResult:
        from boto3.s3.transfer import TransferConfig

        rel = confine(path)
        if not rel:
            raise InvalidParameterValue("An artifact path must name a file, not the root.")
        reader = HashingReader(stream)
        cfg = TransferConfig(multipart_threshold=8 * CHUNK_SIZE, multipart_chunksize=8 * CHUNK_SIZE,
                             use_threads=False)
        self.client.upload_fileobj(reader, self.bucket, self._key(rel), Config=cfg)
        return PutResult(rel, reader.digest.hexdigest(), reader.size)

    def _get(self, path: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))
        except self.client.exceptions.NoSuchKey:
            raise ResourceDoesNotExist(f"No artifact at {confine(path)!r}.") from None

    def open_stream(self, path: str) -> Iterator[bytes]:
        body = self._get(path)["Body"]
        return iter(lambda: body.read(CHUNK_SIZE), b"")

    def get_file(self, path: str, local_file: str | Path) -> None:
        atomic_write(Path(local_file), self._get(path)["Body"])

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        base = self._key(path)
        prefix = f"{base}/" if base else ""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if not recursive:
            kwargs["Delimiter"] = "/"
        out: list[FileInfo] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            for cp in page.get("CommonPrefixes", []):
                out.append(FileInfo(cp["Prefix"][len(prefix) :].rstrip("/"), True, None))
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :]
                if rel:
                    out.append(FileInfo(rel, False, int(obj["Size"])))
        return sorted(out, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        key = self._key(path)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception:
            resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{key}/", MaxKeys=1)
            return bool(resp.get("KeyCount"))

    def delete(self, path: str) -> None:
        key = self._key(path)
        self.client.delete_object(Bucket=self.bucket, Key=key)
        prefix = f"{key}/" if key else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
