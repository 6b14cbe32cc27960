"""RealtimeKitHook against the emulator over real HTTP on loopback: every method and parameter family."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitAuthError,
    RealtimeKitConflictError,
    RealtimeKitInputError,
    RealtimeKitNotFoundError,
)
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from tests.openapi_validation import validate_request, validate_response

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator


def _meeting() -> str:
    return str(uuid.uuid4())


def _validate_traffic(emulator: RealtimeKitEmulator) -> int:
    """Every logged request and JSON response validates against the OpenAPI document."""
    entries = [e for e in emulator.requests if "/_files/" not in e.path]
    for entry in entries:
        validate_request(entry)
        if entry.status is not None and entry.response_json is not None:
            validate_response(entry)
    return len(entries)


class TestReads:
    def test_get_recording_returns_the_api_view(self, hook: RealtimeKitHook, emulator: RealtimeKitEmulator):
        seeded = emulator.seed_recording(status="UPLOADED", file_size=1234)
        recording = hook.get_recording(seeded["id"])
        assert recording["id"] == seeded["id"]
        assert recording["status"] == "UPLOADED"
        assert recording["file_size"] == 1234
        assert isinstance(recording["download_url"], str)
        assert type(recording) is dict  # XCom-safe
        assert _validate_traffic(emulator) == 1

    def test_get_unknown_recording_raises_not_found(self, hook: RealtimeKitHook, emulator):
        with pytest.raises(RealtimeKitNotFoundError) as info:
            hook.get_recording(str(uuid.uuid4()))
        assert info.value.status_code == 404
        assert info.value.message
        assert emulator.count(method="GET") == 1  # a 404 is not retried

    def test_active_recording_404_means_none(self, hook: RealtimeKitHook, emulator):
        assert hook.get_active_recording(_meeting()) is None
        meeting = _meeting()
        started = hook.start_recording(meeting)
        active = hook.get_active_recording(meeting)
        assert active is not None
        assert active["id"] == started["id"]
        _validate_traffic(emulator)

    def test_list_walks_more_than_two_pages(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        ids = {emulator.seed_recording(meeting_id=meeting)["id"] for _ in range(7)}
        emulator.seed_recording(meeting_id=_meeting())  # another meeting: filtered out
        emulator.clear_requests()
        listed = list(hook.list_recordings(meeting_id=meeting, per_page=3))
        assert {r["id"] for r in listed} == ids
        assert len(listed) == 7
        pages = [e.query.get("page_no") for e in emulator.requests]
        assert pages == [["1"], ["2"], ["3"]]
        _validate_traffic(emulator)

    def test_list_is_lazy_and_stops_paging_when_the_caller_stops(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        for _ in range(6):
            emulator.seed_recording(meeting_id=meeting)
        emulator.clear_requests()
        iterator = hook.list_recordings(meeting_id=meeting, per_page=2)
        assert emulator.count() == 0
        first_two = [next(iterator), next(iterator)]
        assert len(first_two) == 2
        assert emulator.count() == 1

    def test_list_filters_reach_the_api(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        now = datetime.now(UTC)
        old = emulator.seed_recording(meeting_id=meeting, invoked_time=now - timedelta(days=3))
        new = emulator.seed_recording(meeting_id=meeting, invoked_time=now - timedelta(hours=1))
        errored = emulator.seed_recording(meeting_id=meeting, status="ERRORED")
        emulator.clear_requests()

        recent = list(hook.list_recordings(meeting_id=meeting, start_time=now - timedelta(days=1)))
        assert {r["id"] for r in recent} >= {new["id"]}
        assert old["id"] not in {r["id"] for r in recent}

        window = list(
            hook.list_recordings(
                meeting_id=meeting,
                start_time=(now - timedelta(days=4)).isoformat(),
                end_time=now - timedelta(days=2),
            )
        )
        assert [r["id"] for r in window] == [old["id"]]

        by_status = list(hook.list_recordings(meeting_id=meeting, status=["ERRORED", "PAUSED"]))
        assert [r["id"] for r in by_status] == [errored["id"]]
        single = list(hook.list_recordings(meeting_id=meeting, status="UPLOADED"))
        assert {r["id"] for r in single} == {old["id"], new["id"]}

        ascending = list(hook.list_recordings(meeting_id=meeting, sort_by="invokedTime", sort_order="ASC"))
        assert ascending[0]["id"] == old["id"]
        descending = list(hook.list_recordings(meeting_id=meeting, sort_order="DESC"))
        assert descending[-1]["id"] == old["id"]

        list(hook.list_recordings(search=meeting[:8], expired=False))
        sent = [e.query for e in emulator.requests]
        assert {"status": ["ERRORED,PAUSED"]}.items() <= sent[2].items()
        assert sent[0]["start_time"][0].endswith("Z")
        assert sent[-1]["expired"] == ["false"]
        assert sent[-1]["search"] == [meeting[:8]]
        _validate_traffic(emulator)


class TestWrites:
    def test_start_with_every_body_field(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        recording = hook.start_recording(
            meeting,
            allow_multiple_recordings=False,
            audio_config={"channel": "mono", "codec": "MP3", "export_file": True},
            file_name_prefix="standup",
            interactive_config={"type": "ID3"},
            max_seconds=3600,
            realtimekit_bucket_config={"enabled": True},
            rtmp_out_config={"rtmp_url": "rtmp://live.example.com/app/key"},
            storage_config={
                "type": "aws",
                "access_key": "AKIAEXAMPLE",
                "secret": "canary-storage-secret",
                "bucket": "recordings",
                "region": "us-east-1",
                "path": "meetings/",
            },
            url="https://example.com/board",
            video_config={
                "codec": "H264",
                "export_file": True,
                "width": 1920,
                "height": 1080,
                "watermark": {
                    "position": "right top",
                    "size": {"width": 64, "height": 64},
                    "url": "https://x.y/a.png",
                },
            },
        )
        assert recording["status"] in ("INVOKED", "RECORDING")
        assert "canary-storage-secret" not in repr(recording)
        (post,) = [e for e in emulator.requests if e.method == "POST"]
        assert post.json["meeting_id"] == meeting
        assert post.json["video_config"]["width"] == 1920
        assert post.json["storage_config"]["secret"] == "canary-storage-secret"  # sent, never returned
        assert post.headers["Authorization"].startswith("Bearer ")
        _validate_traffic(emulator)

    def test_pause_resume_stop_follow_the_lifecycle(self, hook: RealtimeKitHook, emulator):
        recording = hook.start_recording(_meeting())
        emulator.advance(1)
        assert hook.get_recording(recording["id"])["status"] == "RECORDING"
        assert hook.pause_recording(recording["id"])["status"] == "PAUSED"
        assert hook.resume_recording(recording["id"])["status"] == "RECORDING"
        stopped = hook.stop_recording(recording["id"])
        assert stopped["status"] in ("UPLOADING", "UPLOADED")
        emulator.advance(10)
        final = hook.get_recording(recording["id"])
        assert final["status"] == "UPLOADED"
        assert final["file_size"]
        actions = [e.json["action"] for e in emulator.requests if e.method == "PUT"]
        assert actions == ["pause", "resume", "stop"]
        _validate_traffic(emulator)

    def test_second_start_for_a_meeting_is_a_conflict(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        hook.start_recording(meeting)
        with pytest.raises(RealtimeKitConflictError) as info:
            hook.start_recording(meeting, reuse_active_recording=False)
        assert info.value.status_code == 409
        assert meeting in info.value.message
        assert emulator.count(method="POST") == 2  # a 409 is not retried
        second = hook.start_recording(meeting, allow_multiple_recordings=True)
        assert second["id"]

    def test_a_start_while_the_meeting_records_adopts_its_recording_by_default(self, hook, emulator):
        """As the start operator does: the hook's default matches the operator's."""
        meeting = _meeting()
        first = hook.start_recording(meeting)
        again = hook.start_recording(meeting)
        assert again["id"] == first["id"]
        assert emulator.count(method="POST") == 2
        assert emulator.count(method="GET", path=r"/active-recording/") == 1

    def test_track_recording_current_api(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        recording = hook.start_track_recording(
            meeting,
            layers={"default": {"file_name_prefix": "tracks", "media_kind": "audio"}},
            user_ids=["u1", "u2"],
        )
        assert recording is not None
        assert recording["id"]
        (post,) = [e for e in emulator.requests if e.method == "POST"]
        assert post.path.endswith("/recordings/track")
        assert post.json["user_ids"] == ["u1", "u2"]
        _validate_traffic(emulator)

    def test_track_recording_legacy_api_has_no_body(self, emulator):
        from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

        with RealtimeKitEmulator(api_version="legacy") as legacy:
            hook = RealtimeKitHook(account_id=legacy.account_id, app_id=legacy.app_id)
            with pytest.MonkeyPatch.context() as mp:
                for key, value in legacy.env().items():
                    mp.setenv(key, value)
                result = hook.start_track_recording(
                    _meeting(),
                    layers={
                        "default": {"file_name_prefix": "t", "outputs": [{"type": "REALTIMEKIT_BUCKET"}]}
                    },
                    max_seconds=120,
                )
            assert result is None
            (post,) = [e for e in legacy.requests if e.method == "POST"]
            assert post.json["layers"]["default"]["outputs"] == [{"type": "REALTIMEKIT_BUCKET"}]
            assert post.json["max_seconds"] == 120


class TestRepeatedStart:
    """``adopt_since``: a repeated execution (retried or cleared task) adopts what an earlier one started."""

    def test_a_finished_recording_since_the_instant_is_adopted_and_nothing_is_sent(
        self, hook: RealtimeKitHook, emulator: RealtimeKitEmulator
    ):
        meeting, since = _meeting(), datetime.now(UTC) - timedelta(minutes=10)
        emulator.seed_recording(meeting_id=meeting, status="UPLOADED", invoked_time=since - timedelta(days=1))
        ours = emulator.seed_recording(meeting_id=meeting, status="UPLOADED", invoked_time=since)
        emulator.clear_requests()
        adopted = hook.start_recording(meeting, adopt_since=since)
        assert adopted["id"] == ours["id"]
        assert emulator.count(method="POST") == 0
        assert _validate_traffic(emulator) == 1  # one list request, filtered on the meeting and the time

    @pytest.mark.parametrize(
        ("status", "age"),
        [("ERRORED", timedelta(0)), ("UPLOADED", timedelta(hours=1))],
        ids=["errored", "older"],
    )
    def test_an_errored_or_older_recording_is_not_adopted(
        self, hook: RealtimeKitHook, emulator: RealtimeKitEmulator, status: str, age: timedelta
    ):
        meeting, since = _meeting(), datetime.now(UTC) - timedelta(minutes=10)
        other = emulator.seed_recording(meeting_id=meeting, status=status, invoked_time=since - age)
        started = hook.start_recording(meeting, adopt_since=since)
        assert started["id"] != other["id"]
        assert emulator.count(method="POST") == 1

    def test_allow_multiple_recordings_never_adopts(self, hook: RealtimeKitHook, emulator):
        meeting, since = _meeting(), datetime.now(UTC) - timedelta(minutes=10)
        emulator.seed_recording(meeting_id=meeting, status="UPLOADED", invoked_time=since)
        hook.start_recording(meeting, adopt_since=since, allow_multiple_recordings=True)
        assert emulator.count(method="POST") == 1


class TestEnvelopes:
    def test_cloudflare_edge_envelope_on_bad_token(self, emulator, monkeypatch):
        conn = emulator.connection_json().replace(emulator.token, "wrong-token-xyz")
        monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", conn)
        with pytest.raises(RealtimeKitAuthError) as info:
            RealtimeKitHook().get_recording(str(uuid.uuid4()))
        err = info.value
        assert err.status_code == 401
        assert err.code == 10000
        assert err.message
        assert err.ray_id

    @pytest.mark.parametrize("envelope", ["rtk", "cf"])
    def test_both_error_envelopes_give_code_and_message(self, hook, emulator, envelope):
        emulator.add_fault(method="GET", status=400, envelope=envelope, message="bad things happened")
        with pytest.raises(RealtimeKitApiError) as info:
            hook.get_recording(str(uuid.uuid4()))
        assert info.value.status_code == 400
        assert info.value.message == "bad things happened"
        assert info.value.code is not None
        assert "bad things happened" in str(info.value)
        assert emulator.count() == 1  # a 400 is not retried


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"max_seconds": 59}, "max_seconds"),
            ({"max_seconds": 86401}, "max_seconds"),
            ({"max_seconds": 90.5}, "max_seconds"),
            ({"video_config": {"width": 0}}, "video_config.width"),
            ({"video_config": {"height": 1921}}, "video_config.height"),
            ({"video_config": {"codec": "VP9"}}, "video_config.codec"),
            ({"video_config": {"watermark": {"position": "center"}}}, "video_config.watermark.position"),
            ({"audio_config": {"codec": "OGG"}}, "audio_config.codec"),
            ({"audio_config": {"channel": "5.1"}}, "audio_config.channel"),
            ({"storage_config": {"type": "dropbox"}}, "storage_config.type"),
            ({"storage_config": {"bucket": "b"}}, "storage_config.type"),
            ({"storage_config": {"type": "sftp", "auth_method": "TOKEN"}}, "storage_config.auth_method"),
            ({"interactive_config": {"type": "XMP"}}, "interactive_config.type"),
            ({"realtimekit_bucket_config": {}}, "realtimekit_bucket_config.enabled"),
            ({"max_secs": 60}, "max_secs"),
        ],
    )
    def test_bad_start_input_fails_before_any_request(self, hook, emulator, kwargs, field):
        with pytest.raises(RealtimeKitInputError) as info:
            hook.start_recording(_meeting(), **kwargs)
        assert field in str(info.value)
        assert isinstance(info.value, ValueError)
        assert emulator.count() == 0

    def test_enum_errors_list_the_allowed_values(self, hook, emulator):
        with pytest.raises(RealtimeKitInputError, match=r"'ASC', 'DESC'"):
            list(hook.list_recordings(sort_order="UP"))
        with pytest.raises(RealtimeKitInputError, match=r"status.*'UPLOADED'"):
            hook.list_recordings(status=["DONE"])
        with pytest.raises(RealtimeKitInputError, match="action"):
            hook._send_action(str(uuid.uuid4()), "rewind")
        with pytest.raises(RealtimeKitInputError, match="user_ids"):
            hook.start_track_recording(_meeting(), user_ids=[f"u{i}" for i in range(101)])
        with pytest.raises(RealtimeKitInputError, match="media_kind"):
            hook.start_track_recording(_meeting(), layers={"default": {"media_kind": "video"}})
        with pytest.raises(RealtimeKitInputError, match="recording_id"):
            hook.get_recording("")
        with pytest.raises(RealtimeKitInputError, match="start_time"):
            hook.list_recordings(start_time="yesterday")
        assert emulator.count() == 0

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda hook: hook.start_recording("my-meeting"), "meeting_id"),
            (lambda hook: hook.start_track_recording("my-meeting"), "meeting_id"),
            (lambda hook: hook.get_active_recording("my-meeting"), "meeting_id"),
            (lambda hook: list(hook.list_recordings(meeting_id="my-meeting")), "meeting_id"),
            (lambda hook: hook.get_recording("rec-1"), "recording_id"),
            (lambda hook: hook.stop_recording("rec-1"), "recording_id"),
            (lambda hook: hook.pause_recording(str(uuid.uuid4())[:-1]), "recording_id"),
            (lambda hook: asyncio.run(hook.aget_recording("rec-1")), "recording_id"),
            (lambda hook: asyncio.run(hook.alist_recordings_page(meeting_id="m")), "meeting_id"),
        ],
    )
    def test_ids_must_be_uuids_before_any_request(self, hook, emulator, call, field):
        with pytest.raises(RealtimeKitInputError, match=rf"^{field}: must be a UUID .*8-4-4-4-12"):
            call(hook)
        assert emulator.count() == 0

    def test_cloudflare_storage_type_passes_with_a_warning(self, hook, emulator, caplog):
        hook.start_recording(_meeting(), storage_config={"type": "cloudflare", "bucket": "r2-bucket"})
        assert "cloudflare" in caplog.text
        assert emulator.count(method="POST") == 1


class TestAsync:
    def test_async_get_and_list_page(self, hook: RealtimeKitHook, emulator):
        meeting = _meeting()
        seeded = [emulator.seed_recording(meeting_id=meeting) for _ in range(3)]

        async def run():
            try:
                one = await hook.aget_recording(seeded[0]["id"])
                page = await hook.alist_recordings_page(meeting_id=meeting, per_page=2, page_no=2)
                return one, page
            finally:
                await hook.aclose()

        one, page = asyncio.run(run())
        assert one["id"] == seeded[0]["id"]
        assert len(page.recordings) == 1
        assert page.total_count == 3
        _validate_traffic(emulator)

    def test_async_retries_a_503(self, hook: RealtimeKitHook, emulator):
        seeded = emulator.seed_recording()
        emulator.add_fault(method="GET", status=503, times=2)

        async def run():
            try:
                return await hook.aget_recording(seeded["id"])
            finally:
                await hook.aclose()

        assert asyncio.run(run())["id"] == seeded["id"]
        assert emulator.count(method="GET") == 3
