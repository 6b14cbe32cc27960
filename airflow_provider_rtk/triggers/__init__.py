"""Triggers: ``triggers.recording`` (deferred waits) and ``triggers.events`` (event-driven scheduling)."""

__all__: list[str] = []
