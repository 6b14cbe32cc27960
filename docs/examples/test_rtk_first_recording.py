"""The first DAG under the provider's pytest fixtures: the emulator plays RealtimeKit, offline."""

import hashlib
from pathlib import Path

DAG_FILE = Path(__file__).with_name("rtk_first_recording.py")


def test_first_recording_is_archived(realtimekit_emulator, realtimekit_run_dag, tmp_path):
    result = realtimekit_run_dag(DAG_FILE, variables={"rtk_archive_root": str(tmp_path)})

    assert result.state == "success", result.task_states
    recording_id = result.xcoms["start"]["id"]
    video = next((tmp_path / "first").glob("*.mp4"))
    served = realtimekit_emulator.expected_sha256(recording_id, "video")
    assert hashlib.sha256(video.read_bytes()).hexdigest() == served
