"""Connectors against real backends: local files and globs, DuckDB, PostgreSQL (ADBC and
DB-API paths), MariaDB and a moto[server] S3; and the bad-input errors of each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from loopml.data.connectors import DataChanged, open_source, resolve_references
from loopml.data.connectors import sql as sql_mod
from loopml.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceDoesNotExist,
    ServiceUnavailable,
)
from tests.artifacts.conftest import moto_endpoint, s3_bucket_uri  # noqa: F401 (fixtures)
from tests.conftest import free_port, need_service, port_open

TABLE = pa.table({"x": list(range(1000)), "c": [f"k{i % 7}" for i in range(1000)],
                  "y": [i / 3 for i in range(1000)]})


@pytest.fixture
def files(tmp_path: Path) -> Path:
    pq.write_table(TABLE.slice(0, 500), tmp_path / "part-0.parquet", row_group_size=100)
    pq.write_table(TABLE.slice(500), tmp_path / "part-1.parquet", row_group_size=100)
    pcsv.write_csv(TABLE, tmp_path / "all.csv")
    with pa.ipc.new_file(tmp_path / "all.arrow", TABLE.schema) as w:
        w.write_table(TABLE)
    (tmp_path / "_SUCCESS").write_text("")
    return tmp_path


def test_local_glob_dir_and_formats_stream_in_batches(files: Path) -> None:
    batches = list(open_source(str(files / "part-*.parquet")).batches(batch_rows=64))
    assert max(b.num_rows for b in batches) <= 64
    assert pa.Table.from_batches(batches).equals(TABLE)
    sub = files / "sub"
    sub.mkdir()
    pq.write_table(TABLE, sub / "x.parquet")
    assert open_source(str(sub)).read_table().num_rows == 1000  # a directory
    assert open_source(f"file://{files}/all.csv").read_table().column("x").to_pylist() == \
        TABLE.column("x").to_pylist()
    assert open_source(str(files / "all.arrow")).read_table(columns=["c"]).num_columns == 1


def test_glob_without_match_and_missing_path_are_clear(files: Path) -> None:
    with pytest.raises(ResourceDoesNotExist, match="no file matches"):
        open_source(str(files / "*.nothing")).read_table()
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        open_source(str(files / "none.parquet")).read_table()
    with pytest.raises(InvalidParameterValue, match="no connector reads 'zzz://'"):
        open_source("zzz://x")


def test_file_changed_while_read_is_reported(files: Path) -> None:
    path = files / "part-0.parquet"
    it = open_source(str(path)).batches(batch_rows=100)
    next(it)
    pq.write_table(TABLE, path)  # rewritten under the reader
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(DataChanged, match="changed while it was being read"):
        list(it)


def test_duckdb_over_parquet(files: Path) -> None:
    uri = (f"duckdb://?query=SELECT c, count(*) AS n FROM read_parquet('{files}/part-*.parquet')"
           " GROUP BY c ORDER BY c")
    t = open_source(uri).read_table()
    assert t.num_rows == 7 and sum(t.column("n").to_pylist()) == 1000
    with pytest.raises(InvalidParameterValue, match="syntax error"):
        open_source("duckdb://?query=SELEC 1").read_table()
    with pytest.raises(ResourceDoesNotExist):
        open_source(f"duckdb://?query=SELECT * FROM read_parquet('{files}/no/*.parquet')"
                    ).read_table()


def test_references_resolve_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PW", "s3cr@t/x")
    assert resolve_references("postgresql://u:${env:DB_PW}@h/db") == \
        "postgresql://u:s3cr%40t%2Fx@h/db"
    with pytest.raises(InvalidParameterValue, match="no secrets store"):
        resolve_references("postgresql://u:${secret:pg}@h/db")
    with pytest.raises(ServiceUnavailable) as e:  # nothing listens on that port
        open_source(f"postgresql://u:${{env:DB_PW}}@127.0.0.1:{free_port()}/db?query=SELECT 1"
                    ).read_table()
    assert "s3cr" not in str(e.value)
    with pytest.raises(ServiceUnavailable) as e2:
        open_source(f"postgresql://u:hunter2@127.0.0.1:{free_port()}/db?query=SELECT 1"
                    ).read_table()
    assert "hunter2" not in str(e2.value) and "***" in str(e2.value)


@pytest.fixture
def pg_table(postgres_uri: str) -> str:
    import psycopg

    dsn = postgres_uri.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (x bigint, c text, y double precision)")
        with conn.cursor().copy("COPY events (x, c, y) FROM STDIN") as cp:
            for row in zip(*[TABLE.column(n).to_pylist() for n in TABLE.column_names],
                           strict=True):
                cp.write_row(row)
    return dsn


@pytest.mark.postgres
@pytest.mark.parametrize("arrow_native", [True, False], ids=["adbc", "dbapi"])
def test_postgres_query_and_table(pg_table: str, arrow_native: bool,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if not arrow_native:
        monkeypatch.setattr(sql_mod, "_adbc_available", lambda: False)
    elif not sql_mod._adbc_available():
        pytest.skip("adbc-driver-postgresql is not installed")
    batches = list(open_source(f"{pg_table}?table=events").batches(batch_rows=128))
    assert max(b.num_rows for b in batches) <= 128
    t = pa.Table.from_batches(batches).sort_by("x")
    assert t.column("x").to_pylist() == list(range(1000))
    q = open_source(f"{pg_table}?query=SELECT%20c%2C%20sum(x)%20AS%20s%20FROM%20events"
                    "%20GROUP%20BY%20c").read_table(columns=["s"])
    assert q.column_names == ["s"] and q.num_rows == 7
    with pytest.raises(InvalidParameterValue, match="the query failed.*syntax"):
        open_source(f"{pg_table}?query=SELEC 1").read_table()
    with pytest.raises(InvalidParameterValue, match="or .table=NAME"):
        open_source(pg_table).read_table()


@pytest.fixture
def mariadb_uri() -> Iterator[str]:
    need_service("MariaDB", "127.0.0.1", 3306)
    import pymysql

    name = f"loopml_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
        cur.execute(f"CREATE TABLE {name}.events (x BIGINT, c VARCHAR(10), y DOUBLE, "
                    "d DECIMAL(10,2))")
        cur.executemany(f"INSERT INTO {name}.events VALUES (%s, %s, %s, %s)",
                        [(i, f"k{i % 7}", i / 3, None if i == 0 else i / 4)
                         for i in range(1000)])
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {name}")
        conn.close()


def test_mariadb_streams_and_errors(mariadb_uri: str) -> None:
    batches = list(open_source(f"{mariadb_uri}?table=events").batches(batch_rows=300))
    assert [b.num_rows for b in batches] == [300, 300, 300, 100]
    t = pa.Table.from_batches(batches)
    assert t.column("x").to_pylist() == list(range(1000))
    assert t.column("d").null_count == 1  # NULL in the first row kept the column's type
    with pytest.raises(InvalidParameterValue, match="SQL syntax"):
        open_source(f"{mariadb_uri}?query=SELEC 1").read_table()
    denied = mariadb_uri.replace("root@", "nobody_here:wrongpw@")
    with pytest.raises(PermissionDenied) as e:
        open_source(f"{denied}?table=events").read_table()
    assert "wrongpw" not in str(e.value)


@pytest.mark.s3
def test_s3_glob_prefix_and_missing(s3_bucket_uri: str, moto_endpoint: str) -> None:  # noqa: F811
    import boto3

    bucket, _, prefix = s3_bucket_uri[5:].partition("/")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    for i in range(2):
        sink = pa.BufferOutputStream()
        pq.write_table(TABLE.slice(i * 500, 500), sink)
        s3.put_object(Bucket=bucket, Key=f"{prefix}/day={i}/part.parquet",
                      Body=sink.getvalue().to_pybytes())
    t = open_source(f"{s3_bucket_uri}/day=*/*.parquet").read_table()
    assert t.num_rows == 1000
    assert open_source(f"{s3_bucket_uri}/").read_table().num_rows == 1000
    with pytest.raises(ResourceDoesNotExist, match="no file matches"):
        open_source(f"{s3_bucket_uri}/day=*/*.csv").read_table()


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[str]:
    """A moto server that enforces IAM after its first 3 requests (the set-up)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not port_open("127.0.0.1", port):
        if time.time() > deadline:
            proc.kill()
            pytest.fail("moto[server] did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.mark.s3
def test_s3_bucket_without_permission(moto_with_auth: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    kw = {"endpoint_url": moto_with_auth, "region_name": "us-east-1",
          "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", **kw).create_bucket(Bucket="locked")
    iam = boto3.client("iam", **kw)
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]  # no policy: denied
    monkeypatch.setenv("LOOPML_S3_ENDPOINT_URL", moto_with_auth)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(PermissionDenied, match="permission denied") as e:
        open_source("s3://locked/data/*.parquet").read_table()
    assert key["SecretAccessKey"] not in str(e.value)


def test_unreachable_fsspec_store_is_a_clear_error() -> None:
    # ftp:// goes through fsspec, whose file system connects when it is made.
    with pytest.raises(ServiceUnavailable, match="cannot reach the store"):
        open_source("ftp://127.0.0.1:1/x.parquet").read_table()
