"""Operators: ``operators.recording`` (start, stop, pause, resume, track, get, list) and
``operators.download``."""

__all__: list[str] = []
