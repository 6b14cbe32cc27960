"""Secrets, after all the other scenarios: no API token, storage secret or access key, and no presigned URL
signature, in any process log, any task log (worker and triggerer side), any XCom or rendered field.

``e2e_secrets`` sends inline storage credentials (canaries, from Variables) and asks its sensor and get
task for download URLs (``include_download_urls=True``): the one documented place such URLs may appear is
the XCom of a task that asked for them, so those two XComs are reported, not failed on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import record
from tests.e2e.deployment import CANARY_ACCESS_KEY, CANARY_STORAGE_SECRET, CANARY_TOKEN, Deployment
from tests.e2e.helpers import new_meeting

SIGNATURE = re.compile(r"X-Amz-Signature=(?!\*)[0-9a-fA-F]{8,}")
CANARIES = {
    "API token": CANARY_TOKEN,
    "storage secret": CANARY_STORAGE_SECRET,
    "access key": CANARY_ACCESS_KEY,
}
#: Tasks that asked for download URLs in their XCom.
URL_OPT_IN = {("e2e_secrets", "wait"), ("e2e_secrets", "get")}


@pytest.fixture(scope="module")
def places(deployment: Deployment) -> list[tuple[str, str]]:
    """(where, text) of every log file, and of every task's rendered fields and XComs, after one run of
    e2e_secrets."""
    d = deployment
    d.wait_dag_parsed(["e2e_secrets"])
    d.api("PATCH", "/dags/e2e_secrets", json={"is_paused": False})
    run_id = d.trigger("e2e_secrets", {"meeting_id": new_meeting()})
    state = d.wait_runs("e2e_secrets", [run_id], 600)[run_id]
    record("7 secrets", e2e_secrets_run=state)
    assert state == "success"
    found = [(str(p), p.read_text(errors="replace")) for p in _log_files(d.logs)]
    record("7 secrets", log_files_scanned=len(found))
    entries = 0
    for dag in d.api("GET", "/dags", params={"limit": 100})["dags"]:
        dag_id = dag["dag_id"]
        body = {"dag_ids": [dag_id], "page_limit": 10000}
        for ti in d.api("POST", "/dags/~/dagRuns/~/taskInstances/list", json=body)["task_instances"]:
            where = f"{dag_id}.{ti['task_id']}[{ti['map_index']}] {ti['dag_run_id']}"
            found.append((f"rendered fields of {where}", str(ti.get("rendered_fields"))))
            path = f"/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/xcomEntries"
            params = {"map_index": ti["map_index"]}
            for entry in d.api("GET", path, params=params)["xcom_entries"]:
                value = d.api("GET", f"{path}/{entry['key']}", params={**params, "stringify": True})
                found.append((f"XCom {entry['key']} of {where}", str(value.get("value"))))
                entries += 1
    record("7 secrets", xcom_entries_scanned=entries)
    return found


def _log_files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def test_no_token_or_storage_secret(places: list[tuple[str, str]]) -> None:
    leaks = [
        f"{what} in {where}"
        for where, text in places
        for what, value in CANARIES.items()
        # rtk-emulator is the API's side: it holds the token and prints the connection to paste.
        if value in text and not (what == "API token" and where.endswith("/emulator.log"))
    ]
    record("7 secrets", token_or_storage_secret_leaks=leaks[:10])
    assert not leaks


def test_no_presigned_signature(places: list[tuple[str, str]]) -> None:
    leaks, opted_in = [], []
    for where, text in places:
        if not SIGNATURE.search(text):
            continue
        opt_in = where.startswith("XCom ") and any(f"{dag}.{task}[" in where for dag, task in URL_OPT_IN)
        (opted_in if opt_in else leaks).append(where)
    record("7 secrets", signature_leaks=leaks[:10], urls_in_opted_in_xcoms=len(opted_in))
    assert not leaks
