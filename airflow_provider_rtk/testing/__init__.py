"""Test utilities for DAGs that use the RealtimeKit provider (an offline emulator and pytest fixtures)."""
