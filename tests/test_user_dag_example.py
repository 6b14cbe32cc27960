"""A user's DAG test: the emulator plays RealtimeKit, dag.test() runs the DAG in this process."""

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

# The DAG under test; here, the provider's example pipeline.
DAG_FILE = Path(__file__).resolve().parents[1] / "example_dags" / "rtk_scheduled_recording.py"


@pytest.mark.parametrize("logical_date", [None, datetime(2026, 3, 2, 9, tzinfo=UTC)])
def test_meeting_is_recorded_and_archived(realtimekit_emulator, realtimekit_run_dag, tmp_path, logical_date):
    # realtimekit_emulator answers at once (RECORDING when started, UPLOADED when stopped), so no wait of
    # the DAG sleeps its poll interval; @pytest.mark.realtimekit_emulator("realistic") takes real time.
    result = realtimekit_run_dag(
        DAG_FILE,
        "rtk_scheduled_recording",
        logical_date=logical_date,  # None: a run triggered by hand, which has no logical date
        conf={"meeting_id": str(uuid.uuid4()), "slot_seconds": 1},
        variables={"rtk_archive_root": str(tmp_path)},
    )

    result.assert_success()  # if it failed: each failed task's exception type and message
    assert result.task_states["wait_for_upload"] == "success"
    recording_id = result.xcoms["start_recording"]["id"]
    video = next(tmp_path.rglob("*.mp4"))
    expected = realtimekit_emulator.expected_sha256(recording_id, "video")
    assert hashlib.sha256(video.read_bytes()).hexdigest() == expected
