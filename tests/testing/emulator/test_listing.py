"""``GET .../recordings``: paging, both status encodings, filters, sorting and version differences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import FROZEN, Api, new_id

BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def listing(api: Api, params: Any = None) -> dict[str, Any]:
    response = api.get("/recordings", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def seeded(emu: RealtimeKitEmulator) -> list[dict[str, Any]]:
    """45 recordings, one a minute from BASE_TIME: 30 UPLOADED, 10 ERRORED, 5 RECORDING."""
    statuses = ["UPLOADED"] * 30 + ["ERRORED"] * 10 + ["RECORDING"] * 5
    return [
        emu.seed_recording(status=status, invoked_time=BASE_TIME + timedelta(minutes=i))
        for i, status in enumerate(statuses)
    ]


def test_paging_over_three_pages(api: Api, seeded: list[dict[str, Any]]) -> None:
    pages = [listing(api, {"page_no": page, "per_page": 20}) for page in (1, 2, 3, 4)]
    assert [page["paging"] for page in pages] == [
        {"start_offset": 1, "end_offset": 20, "total_count": 45},
        {"start_offset": 21, "end_offset": 40, "total_count": 45},
        {"start_offset": 41, "end_offset": 45, "total_count": 45},
        {"start_offset": 0, "end_offset": 0, "total_count": 45},
    ]
    ids = [item["id"] for page in pages for item in page["data"]]
    assert len(ids) == len(set(ids)) == 45
    newest_first = [rec["id"] for rec in reversed(seeded)]
    assert ids == newest_first  # default: invokedTime DESC
    assert all(page["success"] is True for page in pages)


def test_default_page_size_and_clamping(api: Api, seeded: list[dict[str, Any]]) -> None:
    assert listing(api)["paging"] == {"start_offset": 1, "end_offset": 20, "total_count": 45}
    assert len(listing(api, {"per_page": 1000})["data"]) == 45  # clamped to 100


@pytest.mark.parametrize(
    "status_param",
    [{"status": "UPLOADED,ERRORED"}, {"status": ["UPLOADED", "ERRORED"]}, {"status": ["UPLOADED,ERRORED"]}],
    ids=["comma", "repeated", "comma-in-list"],
)
def test_status_filter_encodings_agree(api: Api, seeded: list[dict[str, Any]], status_param: Any) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        body = listing(api, {**status_param, "page_no": page, "per_page": 15})
        assert body["paging"]["total_count"] == 40
        seen += [item["status"] for item in body["data"]]
    assert sorted(set(seen)) == ["ERRORED", "UPLOADED"]
    assert len(seen) == 40


def test_sort_ascending(api: Api, seeded: list[dict[str, Any]]) -> None:
    body = listing(api, {"sort_by": "invokedTime", "sort_order": "ASC", "per_page": 3})
    assert [item["id"] for item in body["data"]] == [rec["id"] for rec in seeded[:3]]


def test_time_window_filters(api: Api, seeded: list[dict[str, Any]]) -> None:
    params = {"start_time": "2026-03-01T12:10:00Z", "end_time": "2026-03-01T12:19:00.000Z", "per_page": 100}
    body = listing(api, params)
    assert body["paging"]["total_count"] == 10
    assert {item["id"] for item in body["data"]} == {rec["id"] for rec in seeded[10:20]}
    naive = listing(api, {"start_time": "2026-03-01T12:40:00"})  # no offset: UTC
    assert naive["paging"]["total_count"] == 5


def test_meeting_and_search_filters(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    mine = [emu.seed_recording(meeting_id=meeting, meeting_title="Quarterly Review") for _ in range(3)]
    other = emu.seed_recording(meeting_title="Standup")
    by_meeting = listing(api, {"meeting_id": meeting})
    assert {item["id"] for item in by_meeting["data"]} == {rec["id"] for rec in mine}
    assert all(item["meeting"]["id"] == meeting for item in by_meeting["data"])
    assert by_meeting["data"][0]["meeting"]["title"] == "Quarterly Review"
    assert listing(api, {"search": "quarterly"})["paging"]["total_count"] == 3
    assert listing(api, {"search": meeting[:13]})["paging"]["total_count"] == 3
    assert [item["id"] for item in listing(api, {"search": "stand"})["data"]] == [other["id"]]
    assert listing(api, {"search": "nothing-matches"})["data"] == []


def test_expired_filter(emu: RealtimeKitEmulator, api: Api) -> None:
    now = datetime.now(UTC)
    old = emu.seed_recording(invoked_time=now - timedelta(days=8))
    fresh = emu.seed_recording(invoked_time=now - timedelta(days=1))
    assert [item["id"] for item in listing(api, {"expired": "true"})["data"]] == [old["id"]]
    assert [item["id"] for item in listing(api, {"expired": "false"})["data"]] == [fresh["id"]]
    assert old["download_url"] is None  # gone from RealtimeKit's bucket
    assert fresh["download_url"] is not None


def test_legacy_version_rejects_new_statuses() -> None:
    with RealtimeKitEmulator(time_scale=FROZEN, api_version="legacy") as emu:
        api = Api(emu)
        emu.seed_recording()
        rejected = api.get("/recordings", params={"status": "UPLOADED,ERRORED"})
        assert rejected.status_code == 400
        assert "status" in rejected.json()["error"]["message"]
        assert api.get("/recordings", params={"status": ["PAUSED"]}).status_code == 400
        assert listing(api, {"status": ["UPLOADED", "INVOKED"]})["paging"]["total_count"] == 1
        api.close()


def test_current_version_accepts_new_statuses(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.seed_recording(status="ERRORED")
    emu.seed_recording(status="PAUSED")
    emu.seed_recording(status="UPLOADED")
    assert listing(api, {"status": "ERRORED,PAUSED"})["paging"]["total_count"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"status": "DONE"},
        {"sort_order": "UP"},
        {"sort_by": "createdAt"},
        {"page_no": "0"},
        {"page_no": "first"},
        {"per_page": "-1"},
        {"expired": "maybe"},
        {"start_time": "yesterday"},
    ],
)
def test_invalid_queries_are_400(api: Api, params: dict[str, str]) -> None:
    response = api.get("/recordings", params=params)
    assert response.status_code == 400
    field = next(iter(params))
    assert field in response.json()["error"]["message"]


def test_list_items_carry_meeting_and_storage_config(emu: RealtimeKitEmulator, api: Api) -> None:
    api.start(storage_config={"type": "aws", "bucket": "b", "secret": "x"})
    item = listing(api)["data"][0]
    assert item["storage_config"] == {"type": "aws", "bucket": "b"}
    assert set(item["meeting"]) >= {"id", "created_at", "updated_at"}
    assert "start_reason" not in item
