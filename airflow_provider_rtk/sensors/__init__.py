"""Sensors: ``sensors.recording.RealtimeKitRecordingSensor``."""

__all__: list[str] = []
