"""Secrets, after all the other scenarios: no API token, storage secret or access key, or presigned URL
signature in any process log, any task log (worker and triggerer side), any XCom or rendered field."""

from __future__ import annotations

import re

from tests.e2e.conftest import record
from tests.e2e.deployment import CANARY_ACCESS_KEY, CANARY_STORAGE_SECRET, CANARY_TOKEN, Deployment
from tests.e2e.helpers import new_meeting

SIGNATURE = re.compile(r"X-Amz-Signature=(?!\*)[0-9a-fA-F]{8,}")


def test_no_secret_anywhere(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_secrets"])
    d.api("PATCH", "/dags/e2e_secrets", json={"is_paused": False})
    run_id = d.trigger("e2e_secrets", {"meeting_id": new_meeting()})
    state = d.wait_runs("e2e_secrets", [run_id], 600)[run_id]
    canaries = {"API token": CANARY_TOKEN, "storage secret": CANARY_STORAGE_SECRET, "access key": CANARY_ACCESS_KEY}
    leaks: list[str] = []
    scanned = 0
    for path in sorted(d.logs.rglob("*")):
        if not path.is_file() or path.suffix == ".png":
            continue
        scanned += 1
        text = path.read_text(errors="replace")
        for what, value in canaries.items():
            if value in text:
                leaks.append(f"{what} in {path}")
        if SIGNATURE.search(text):
            leaks.append(f"presigned signature in {path}: {SIGNATURE.search(text)[0][:40]}...")  # type: ignore[index]
    # XCom and rendered fields of every task of every DAG run, through the API.
    entries = 0
    for dag in d.api("GET", "/dags", params={"limit": 100})["dags"]:
        dag_id = dag["dag_id"]
        tis = d.api("POST", "/dags/~/dagRuns/~/taskInstances/list", json={"dag_ids": [dag_id], "page_limit": 10000})
        for ti in tis["task_instances"]:
            blob = str(ti.get("rendered_fields"))
            xcoms = d.api(
                "GET", f"/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/xcomEntries",
                params={"map_index": ti["map_index"]},
            )["xcom_entries"]
            for entry in xcoms:
                value = d.api(
                    "GET",
                    f"/dags/{dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/xcomEntries/{entry['key']}",
                    params={"map_index": ti["map_index"], "stringify": True},
                )
                blob += str(value.get("value"))
                entries += 1
            for what, value in canaries.items():
                if value in blob:
                    leaks.append(f"{what} in XCom/rendered fields of {dag_id}.{ti['task_id']} {ti['dag_run_id']}")
            if SIGNATURE.search(blob):
                leaks.append(f"presigned signature in XCom/rendered fields of {dag_id}.{ti['task_id']}")
    record(
        "7 secrets",
        secrets_run=state,
        log_files_scanned=scanned,
        xcom_entries_scanned=entries,
        leaks=leaks[:20],
    )
    assert state == "success"
    assert not leaks, leaks
