"""Hooks: ``hooks.realtimekit.RealtimeKitHook``."""

__all__: list[str] = []
