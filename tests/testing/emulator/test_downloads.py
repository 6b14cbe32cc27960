"""Presigned download URLs: bytes, headers, ranges, expiry and refresh, and multi-GiB files."""

from __future__ import annotations

import hashlib
import resource
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from airflow_provider_rtk.testing.emulator.content import BLOCK_SIZE, content_seed, iter_content
from tests.testing.emulator.client import Api

MIB = 1 << 20
GIB = 1 << 30


def fetch(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def test_bytes_match_expected_sha256_for_every_file(emu: RealtimeKitEmulator) -> None:
    composite = emu.seed_recording(file_size=3 * MIB + 17, audio_file_size=100_000)
    rid = composite["id"]
    video = fetch(composite["download_url"])
    audio = fetch(composite["audio_download_url"])
    assert len(video.content) == 3 * MIB + 17
    assert hashlib.sha256(video.content).hexdigest() == emu.expected_sha256(rid)
    assert hashlib.sha256(audio.content).hexdigest() == emu.expected_sha256(rid, "audio")
    assert emu.expected_sha256(rid) != emu.expected_sha256(rid, "audio")

    track = emu.seed_recording(track_layers=["alice", "bob"], audio_file_size=4096)
    digests = {}
    for entry in track["download_url"]:
        body = fetch(entry["download_urls"]["file"]["download_url"])
        assert body.headers["Content-Type"] == "audio/webm"
        digests[entry["layer_name"]] = hashlib.sha256(body.content).hexdigest()
    assert digests == {layer: emu.expected_sha256(track["id"], layer) for layer in ("alice", "bob")}
    assert digests["alice"] != digests["bob"]
    with pytest.raises(KeyError):
        emu.expected_sha256(track["id"], "video")


def test_blocks_differ_and_any_range_is_a_slice_of_the_whole() -> None:
    whole = b"".join(iter_content("seed", 0, 3 * BLOCK_SIZE))
    blocks = [whole[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE] for i in range(3)]
    assert len(set(blocks)) == 3  # a resume that is off by whole MiBs still changes the bytes
    assert b"".join(iter_content("seed", 5, 2 * BLOCK_SIZE + 7)) == whole[5 : 2 * BLOCK_SIZE + 7]
    assert b"".join(iter_content("other", 0, 10)) != whole[:10]


def test_headers(emu: RealtimeKitEmulator) -> None:
    recording = emu.seed_recording(file_size=5000)
    response = fetch(recording["download_url"])
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "5000"
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].startswith('"')
    assert parsedate_to_datetime(response.headers["Last-Modified"])
    audio = fetch(recording["audio_download_url"])
    assert audio.headers["Content-Type"] == "audio/mp4"
    assert audio.headers["ETag"] != response.headers["ETag"]
    again = emu.recording(recording["id"])
    assert fetch(again["download_url"]).headers["ETag"] == response.headers["ETag"]  # same file, same ETag


def test_head(emu: RealtimeKitEmulator) -> None:
    recording = emu.seed_recording(file_size=12345)
    response = requests.head(recording["download_url"], timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "12345"
    assert response.content == b""


@pytest.mark.parametrize(
    ("range_header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, 5000),
        ("bytes=-10", 4990, 5000),
        ("bytes=4990-9999", 4990, 5000),
    ],
)
def test_range_requests(emu: RealtimeKitEmulator, range_header: str, start: int, stop: int) -> None:
    recording = emu.seed_recording(file_size=5000)
    whole = fetch(recording["download_url"]).content
    response = fetch(recording["download_url"], Range=range_header)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/5000"
    assert response.headers["Content-Length"] == str(stop - start)
    assert response.content == whole[start:stop]


@pytest.mark.parametrize("range_header", ["bytes=5000-", "bytes=6000-7000", "bytes=-0"])
def test_unsatisfiable_range_is_416(emu: RealtimeKitEmulator, range_header: str) -> None:
    recording = emu.seed_recording(file_size=5000)
    response = fetch(recording["download_url"], Range=range_header)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */5000"


def test_if_range_with_a_stale_etag_sends_the_whole_file(emu: RealtimeKitEmulator) -> None:
    recording = emu.seed_recording(file_size=5000)
    etag = fetch(recording["download_url"]).headers["ETag"]
    assert fetch(recording["download_url"], Range="bytes=10-", **{"If-Range": etag}).status_code == 206
    stale = fetch(recording["download_url"], Range="bytes=10-", **{"If-Range": '"other"'})
    assert stale.status_code == 200
    assert len(stale.content) == 5000


def test_no_bearer_token_needed_but_signature_checked(emu: RealtimeKitEmulator) -> None:
    url = emu.seed_recording(file_size=10)["download_url"]
    assert fetch(url).status_code == 200
    tampered = url.replace("X-Amz-Expires=604800", "X-Amz-Expires=999999")
    response = fetch(tampered)
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    unsigned = fetch(url.split("?")[0])
    assert unsigned.status_code == 403
    assert "<Code>AccessDenied</Code>" in unsigned.text
    other_file = fetch(url.replace("/video?", "/audio?"))
    assert other_file.status_code == 403  # a signature is valid for one file only


def test_expired_url_is_403_and_a_fresh_get_issues_a_working_url() -> None:
    with RealtimeKitEmulator(time_scale=1e9, download_url_ttl=3600) as emu:
        api = Api(emu)
        recording = emu.seed_recording(file_size=100)
        old_url = recording["download_url"]
        emu.advance(1800)
        refreshed = api.recording(recording["id"])
        new_url = refreshed["download_url"]
        assert new_url != old_url
        assert refreshed["download_url_expiry"] > recording["download_url_expiry"]
        signature = parse_qs(urlsplit(new_url).query)["X-Amz-Signature"]
        assert signature != parse_qs(urlsplit(old_url).query)["X-Amz-Signature"]

        emu.advance(1800)  # the old URL's hour is over; the new one has 30 minutes left
        expired = fetch(old_url)
        assert expired.status_code == 403
        assert expired.headers["Content-Type"] == "application/xml"
        expected = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        assert expected in expired.text
        assert fetch(new_url).status_code == 200
        emu.advance(1800)
        assert fetch(new_url).status_code == 403
        assert fetch(emu.recording(recording["id"])["download_url"]).status_code == 200
        api.close()


def test_unknown_file_is_404_nosuchkey(emu: RealtimeKitEmulator) -> None:
    response = fetch(f"http://127.0.0.1:{emu.port}/_files/nope")
    assert response.status_code == 404
    assert "<Code>NoSuchKey</Code>" in response.text
    assert requests.put(emu.seed_recording()["download_url"], timeout=5).status_code == 405


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_three_gib_file_via_head_and_range(emu: RealtimeKitEmulator) -> None:
    size = 3 * GIB
    recording: dict[str, Any] = emu.seed_recording(file_size=size)
    assert recording["file_size"] == size
    before = max_rss_bytes()
    head = requests.head(recording["download_url"], timeout=5)
    assert head.headers["Content-Length"] == str(size)
    tail = fetch(recording["download_url"], Range=f"bytes={size - MIB - 10}-")
    assert tail.status_code == 206
    assert tail.headers["Content-Range"] == f"bytes {size - MIB - 10}-{size - 1}/{size}"
    assert len(tail.content) == MIB + 10
    expected = b"".join(iter_content(content_seed(recording["id"], "video"), size - MIB - 10, size))
    assert tail.content == expected
    assert max_rss_bytes() - before < 200 * MIB
