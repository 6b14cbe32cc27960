"""Canary test: storage secrets (from a connection or inline), the API token and presigned URLs stay out
of task logs, rendered template fields and XCom, while the secrets still reach the API."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from tests.conftest import CANARY_TOKEN
from tests.operators.conftest import meeting

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

CONN_CANARIES = {"access_key": "canary-conn-login-4c1d", "secret": "canary-conn-password-8e2f"}
SFTP_PASSWORD = "canary-sftp-password-3a7b"
INLINE_CANARIES = {"access_key": "canary-inline-key-6d5c", "secret": "canary-inline-secret-2b9e"}
TEMPLATED_CANARY = "canary-templated-key-9f0a"
MAPPED_CANARY = "canary-mapped-key-1e8d"
RTMP_URL = "rtmp://live.example.com/app/canary-stream-key-77aa"


def _rendered_fields(dag_prefix: str, run_id: str) -> dict[str, Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(RenderedTaskInstanceFields)
            .filter(RenderedTaskInstanceFields.dag_id.like(f"{dag_prefix}_%"))
            .filter(RenderedTaskInstanceFields.run_id == run_id)
            .all()
        )
        return {row.task_id: row.rendered_fields for row in rows}


def _start_bodies(emulator: RealtimeKitEmulator) -> dict[str, dict[str, Any]]:
    return {
        r.json["meeting_id"]: r.json
        for r in emulator.requests
        if r.method == "POST" and r.path.endswith("/recordings") and r.json
    }


def test_secrets_stay_out_of_logs_rendered_fields_and_xcom(
    emulator: RealtimeKitEmulator, run_dag, monkeypatch, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    aws_conn = {
        "conn_type": "aws",
        "login": CONN_CANARIES["access_key"],
        "password": CONN_CANARIES["secret"],
        "extra": {"bucket": "archive", "region_name": "eu-west-1", "path": "from-connection"},
    }
    sftp_conn = {
        "conn_type": "sftp",
        "host": "sftp.example.com",
        "port": 2222,
        "login": "rtk",
        "password": SFTP_PASSWORD,
        "extra": {"auth_method": "PASSWORD"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_RTK_STORAGE_AWS", json.dumps(aws_conn))
    monkeypatch.setenv("AIRFLOW_CONN_RTK_STORAGE_SFTP", json.dumps(sftp_conn))
    monkeypatch.setenv("AIRFLOW_VAR_RTK_STORAGE_VALUE", TEMPLATED_CANARY)
    monkeypatch.setenv("AIRFLOW_VAR_RTK_MAPPED_VALUE", MAPPED_CANARY)
    by_conn, by_sftp, inline, templated, mapped = (meeting() for _ in range(5))

    result = run_dag(
        "secrets",
        f"""
        by_conn = RealtimeKitStartRecordingOperator(
            task_id="by_conn", meeting_id="{by_conn}", storage_conn_id="rtk_storage_aws",
            storage_config={{"path": "runs/{{{{ dag_run.run_after.date() }}}}"}},
        )
        by_sftp = RealtimeKitStartRecordingOperator(
            task_id="by_sftp", meeting_id="{by_sftp}", storage_conn_id="rtk_storage_sftp"
        )
        inline = RealtimeKitStartRecordingOperator(
            task_id="inline", meeting_id="{inline}",
            storage_config={{"type": "gcs", "bucket": "b", **{INLINE_CANARIES!r}}},
            rtmp_out_config={{"rtmp_url": "{RTMP_URL}"}},
        )
        templated = RealtimeKitStartRecordingOperator(
            task_id="templated", meeting_id="{templated}",
            storage_config={{
                "type": "aws", "bucket": "b", "access_key": "{{{{ var.value.rtk_storage_value }}}}"
            }},
        )
        mapped = RealtimeKitStartRecordingOperator.partial(
            task_id="mapped",
            storage_config={{"type": "aws", "access_key": "{{{{ var.value.rtk_mapped_value }}}}"}},
        ).expand(meeting_id=["{mapped}"])
        stop = RealtimeKitStopRecordingOperator(
            task_id="stop", recording_id=by_conn.output["id"], wait_for_upload=True, deferrable=False,
            poll_interval=0.1,
        )
        with_urls = RealtimeKitGetRecordingOperator(
            task_id="with_urls", recording_id=by_conn.output["id"], include_download_urls=True
        )
        [by_sftp, inline, templated, mapped] >> by_conn >> stop >> with_urls
        """,
    )
    assert result.state == "success", result.task_states

    # The secrets reached the API, merged as documented.
    bodies = _start_bodies(emulator)
    conn_config = bodies[by_conn]["storage_config"]
    assert conn_config.pop("path").startswith("runs/20")  # storage_config, rendered, wins over the extra
    assert conn_config == {"type": "aws", "bucket": "archive", "region": "eu-west-1", **CONN_CANARIES}
    assert bodies[by_sftp]["storage_config"] == {
        "type": "sftp",
        "username": "rtk",
        "password": SFTP_PASSWORD,
        "host": "sftp.example.com",
        "port": 2222,
        "auth_method": "PASSWORD",
    }
    assert bodies[inline]["storage_config"]["secret"] == INLINE_CANARIES["secret"]
    assert bodies[inline]["rtmp_out_config"]["rtmp_url"] == RTMP_URL
    assert bodies[templated]["storage_config"]["access_key"] == TEMPLATED_CANARY
    assert bodies[mapped]["storage_config"]["access_key"] == MAPPED_CANARY

    # Presigned URLs: out of XCom by default, in it when asked for.
    url = result.xcoms["with_urls"]["download_url"]
    assert url.startswith(emulator.base_url.split("/client")[0] + "/_files/")
    assert result.xcoms["stop"]["download_url"] is None

    rendered = _rendered_fields("secrets", result.run_id)
    assert set(rendered) >= {"by_conn", "by_sftp", "inline", "templated", "mapped", "stop", "with_urls"}
    assert rendered["inline"]["storage_config"]["access_key"] == "***"
    assert rendered["inline"]["rtmp_out_config"]["rtmp_url"] == "***"
    assert rendered["templated"]["storage_config"]["access_key"] == "***"
    assert rendered["mapped"]["storage_config"]["access_key"] == "***"
    xcoms = {k: v for k, v in result.xcoms.items() if k != "with_urls"}

    out, err = capfd.readouterr()
    logs = "\n".join([out, err, caplog.text])
    assert result.xcoms["by_conn"]["id"] in logs  # the haystack really holds the task logs
    canaries = [
        *CONN_CANARIES.values(),
        SFTP_PASSWORD,
        *INLINE_CANARIES.values(),
        TEMPLATED_CANARY,
        MAPPED_CANARY,
        RTMP_URL,
    ]
    for where, text in (
        ("logs", logs),
        ("rendered fields", json.dumps(rendered)),
        ("XCom", json.dumps(xcoms)),
    ):
        for canary in [*canaries, CANARY_TOKEN, url, url.split("?")[1]]:
            assert canary not in text, f"{canary!r} leaked into {where}"
    assert all(r.headers.get("Authorization") == f"Bearer {CANARY_TOKEN}" for r in emulator.requests)

    # dag.test() prints task logs unredacted (a deployment redacts them in the task supervisor), so check
    # that every secret was registered with the masker the task logs go through.
    from airflow.sdk._shared.secrets_masker import redact

    for secret in [*canaries, url]:
        assert redact(f"value={secret}") == "value=***", f"{secret!r} is not masked"
