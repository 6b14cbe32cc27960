"""``_validation``: every input error names its field and what is allowed, before any request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_rtk._core.validation import (
    LIST_FILTERS,
    START_FIELDS,
    ListFilters,
    StartOptions,
    build_list_params,
    build_start_body,
    build_track_body,
    iso_time,
    require_id,
    require_uuid,
)
from airflow_provider_rtk.exceptions import RealtimeKitInputError

MEETING = "6f1c2a4e-8d3b-4c5a-9e7f-0b1d2c3e4f5a"  # fixed, so test ids agree across xdist workers


def test_filters_and_start_fields_are_the_typed_dicts_keys():
    assert tuple(ListFilters.__annotations__) == LIST_FILTERS
    assert len(LIST_FILTERS) == 9
    assert ("meeting_id", *StartOptions.__annotations__) == START_FIELDS


class TestIds:
    def test_uuids_pass_stripped(self):
        assert require_uuid("meeting_id", f" {MEETING} ") == MEETING
        assert require_uuid("recording_id", MEETING.upper()) == MEETING.upper()

    @pytest.mark.parametrize("value", ["my-meeting", "", None, 42, MEETING.replace("-", ""), f"{MEETING}/x"])
    def test_anything_else_names_the_field_and_the_form(self, value):
        with pytest.raises(RealtimeKitInputError, match=r"^meeting_id: must be a UUID") as info:
            require_uuid("meeting_id", value)
        assert "8-4-4-4-12" in str(info.value)
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize("value", ["a/b", "a?b", "..", " ", "50%"])
    def test_path_ids_stay_path_safe(self, value):
        with pytest.raises(RealtimeKitInputError, match="user_ids"):
            require_id("user_ids[]", value)

    def test_bodies_and_filters_check_the_meeting_id(self):
        for call in (
            lambda: build_start_body("my-meeting", {}),
            lambda: build_track_body("my-meeting", layers=None, user_ids=None, max_seconds=None),
            lambda: build_list_params(meeting_id="my-meeting"),
        ):
            with pytest.raises(RealtimeKitInputError, match="meeting_id: must be a UUID"):
                call()


class TestListParams:
    def test_every_filter(self):
        params = build_list_params(
            meeting_id=MEETING,
            status=["UPLOADED", "ERRORED"],
            start_time="2026-01-05T10:00:00+01:00",
            end_time=datetime(2026, 1, 6),
            expired=False,
            search="standup",
            sort_by="invokedTime",
            sort_order="DESC",
            per_page=100,
        )
        assert params == {
            "meeting_id": MEETING,
            "status": "UPLOADED,ERRORED",
            "start_time": "2026-01-05T09:00:00.000Z",
            "end_time": "2026-01-06T00:00:00.000Z",
            "expired": "false",
            "search": "standup",
            "sort_by": "invokedTime",
            "sort_order": "DESC",
            "per_page": "100",
        }
        assert build_list_params() == {}
        assert build_list_params(meeting_id=None, status=None) == {}

    @pytest.mark.parametrize(
        ("filters", "field"),
        [
            ({"status": "DONE"}, "status"),
            ({"status": []}, "status"),
            ({"per_page": 101}, "per_page"),
            ({"sort_order": "UP"}, "sort_order"),
            ({"sort_by": "name"}, "sort_by"),
            ({"expired": "yes"}, "expired"),
            ({"start_time": "yesterday"}, "start_time"),
            ({"start_time": "2026-01-02", "end_time": "2026-01-01"}, "start_time"),
            ({"page": 2}, "page"),
        ],
    )
    def test_bad_filters_name_the_field(self, filters, field):
        with pytest.raises(RealtimeKitInputError, match=rf"^{field}: "):
            build_list_params(**filters)


class TestStartBody:
    def test_none_values_are_not_sent(self):
        body = build_start_body(MEETING, {"max_seconds": 60, "url": None, "storage_config": None})
        assert body == {"meeting_id": MEETING, "max_seconds": 60}

    def test_unknown_fields_list_the_allowed_ones(self):
        with pytest.raises(RealtimeKitInputError, match=r"^max_secs: unknown .*'max_seconds'"):
            build_start_body(MEETING, {"max_secs": 60})

    def test_meeting_id_is_not_a_body_keyword(self):
        with pytest.raises(RealtimeKitInputError, match="meeting_id is the first argument"):
            build_start_body(MEETING, {"meeting_id": MEETING})


class TestIsoTime:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (datetime(2026, 1, 5, 10, 0), "2026-01-05T10:00:00.000Z"),
            (datetime(2026, 1, 5, 10, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-01-05T15:00:00.000Z"),
            ("2026-01-05T10:00:00Z", "2026-01-05T10:00:00.000Z"),
            ("2026-01-05T10:00:00.123456", "2026-01-05T10:00:00.123Z"),
            (datetime(2026, 1, 5, tzinfo=UTC), "2026-01-05T00:00:00.000Z"),
        ],
    )
    def test_normalised_to_utc_milliseconds(self, value, expected):
        assert iso_time("start_time", value) == expected

    @pytest.mark.parametrize("value", ["tomorrow", 1700000000, None])
    def test_bad_times_name_the_field(self, value):
        with pytest.raises(
            RealtimeKitInputError, match=r"^end_time: must be a datetime or an ISO-8601 string"
        ):
            iso_time("end_time", value)
