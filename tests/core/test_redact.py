"""``_redact``: storage secrets and presigned URLs kept out of what the provider returns."""

from __future__ import annotations

from airflow_provider_rtk._core.redact import clean_recording, download_urls, without_download_urls

TRACK = [
    {"layer_name": "alice", "download_urls": {"file": {"download_url": "https://s/a.webm?sig=1"}}},
    {"layer_name": "bob", "download_urls": {"file": {"download_url": "https://s/b.webm?sig=2"}}},
]


def test_storage_secrets_are_stripped_and_the_input_untouched():
    storage = {
        "type": "sftp",
        "host": "h",
        "password": "p",
        "private_key": "k",
        "secret": "s",
        "access_key": "a",
    }
    recording = {"id": "r", "storage_config": storage}
    assert clean_recording(recording)["storage_config"] == {"type": "sftp", "host": "h"}
    assert recording["storage_config"] is storage
    assert "password" in storage
    assert clean_recording({"id": "r", "storage_config": None}) == {"id": "r", "storage_config": None}


def test_every_download_url_is_found():
    video = {"download_url": "https://s/v.mp4?sig=0", "audio_download_url": "https://s/a.m4a?sig=9"}
    assert download_urls(video) == ["https://s/v.mp4?sig=0", "https://s/a.m4a?sig=9"]
    assert download_urls({"download_url": TRACK}) == ["https://s/a.webm?sig=1", "https://s/b.webm?sig=2"]
    assert download_urls({"download_url": None}) == []


def test_without_download_urls_keeps_what_exists():
    plain = without_download_urls({"id": "r", "download_url": "https://s/v?sig", "audio_download_url": None})
    assert plain == {"id": "r", "download_url": None, "audio_download_url": None}
    tracks = without_download_urls({"id": "r", "download_url": TRACK})
    assert tracks["download_url"] == [
        {"layer_name": "alice", "download_urls": {}},
        {"layer_name": "bob", "download_urls": {}},
    ]
    assert download_urls(tracks) == []
