"""Fixtures of the download tests: the suite's emulator, an archive directory, an operator runner, a
Range-ignoring file server and an S3-protocol server (moto) with its Airflow connection."""

from __future__ import annotations

import hashlib
import json
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.airflow_harness import DagRunResult, run_dag_source
from tests.conftest import CANARY_TOKEN, FAST

if TYPE_CHECKING:
    from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_requests(emulator: RealtimeKitEmulator) -> list[Any]:
    return [r for r in emulator.requests if r.path.startswith("/_files/")]


@pytest.fixture
def emulator(
    request: pytest.FixtureRequest, realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]
) -> RealtimeKitEmulator:
    """The suite's shared emulator settings (``tests/conftest.py``), not the recording operators' variant:
    downloads start from recordings seeded UPLOADED. Indirect parameters override settings."""
    return realtimekit_emulator_factory(token=CANARY_TOKEN, **{**FAST, **getattr(request, "param", {})})


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def run_operator(emulator: RealtimeKitEmulator) -> Callable[..., list[str]]:
    """Build the operator (fast resumes) and execute it outside a DAG; returns its XCom value."""

    def run(**kwargs: Any) -> list[str]:
        from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

        kwargs.setdefault("resume_delay", 0.01)
        operator: RealtimeKitDownloadRecordingOperator = RealtimeKitDownloadRecordingOperator(
            task_id=f"download_{uuid.uuid4().hex[:8]}", **kwargs
        )
        return operator.execute({})  # type: ignore[arg-type]

    return run


DAG_HEADER = """\
import pendulum
from airflow.sdk import DAG, AssetAlias, task

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

"""


def run_dag(name: str, body: str) -> DagRunResult:
    """Run ``body`` (tasks, indented as at module level) in a fresh DAG with ``dag.test()``."""
    dag_id = f"{name}_{uuid.uuid4().hex[:8]}"
    source = (
        DAG_HEADER
        + f"with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz='UTC')) as dag:\n"
        + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
        + "\n"
    )
    return run_dag_source(source, dag_id)


def asset_events(uri: str, run_id: str) -> list[dict[str, Any]]:
    """The ``extra`` of every asset event a DAG run emitted for the asset ``uri``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri, AssetEvent.source_run_id == run_id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


# -- a file server that misbehaves in ways the emulator does not -------------------------------------------


@dataclass
class PlainFileServer:
    """Serves ``content`` at ``/file``.

    ``ignore_range``: always 200 with the whole file; ``drop_first_after``: the first response closes after
    that many body bytes; ``range_total``: the file size a 206 claims.
    """

    content: bytes
    ignore_range: bool = False
    drop_first_after: int | None = None
    range_total: int | None = None
    ranges: list[str | None] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                requested = self.headers.get("Range")
                first_request = not server.ranges
                server.ranges.append(requested)
                start = 0
                if requested and not server.ignore_range:
                    start = int(requested.removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    total = server.range_total or len(server.content)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.content) - 1}/{total}")
                else:
                    self.send_response(200)
                body = server.content[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"plain"')
                limit = server.drop_first_after if first_request else None
                if limit is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if limit is None else body[:limit])
                if limit is not None:
                    self.close_connection = True

        return Handler


@pytest.fixture
def plain_server() -> Iterator[Callable[..., PlainFileServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(content: bytes, **options: Any) -> PlainFileServer:
        spec = PlainFileServer(content, **options)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), spec.handler())
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
        spec.url = f"http://127.0.0.1:{httpd.server_port}/file?X-Amz-Signature=secret-signature"
        return spec

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


# -- S3 on loopback --------------------------------------------------------------------------------------


@dataclass
class S3Bucket:
    client: Any
    name: str
    conn_id: str
    endpoint: str

    def sha256(self, key: str) -> str:
        body = self.client.get_object(Bucket=self.name, Key=key)["Body"]
        digest = hashlib.sha256()
        while chunk := body.read(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    # Test dependencies (the `test` extra): a missing one fails the S3 tests rather than skipping them.
    import airflow.providers.amazon  # noqa: F401
    import s3fs  # noqa: F401
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket on the moto server and an ``aws`` connection to it (via the environment)."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    # Airflow caches a filesystem per connection id: one id per server keeps caches from crossing servers.
    conn_id = f"rtk_s3_{moto_endpoint.rsplit(':', 1)[1]}"
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"rtk-archive-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(client, name, conn_id, moto_endpoint)
