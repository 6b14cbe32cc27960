"""A thin HTTP client for the emulator's tests: real requests over a keep-alive session."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

#: Real seconds per API second for a practically frozen clock: only ``advance()`` moves it.
FROZEN = 1e9


class Api:
    """A keep-alive session bound to the emulator's app, authenticated with its token."""

    def __init__(self, emulator: RealtimeKitEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emulator.token}"
        self.app_url = f"{emulator.base_url}/accounts/{emulator.account_id}/realtime/kit/{emulator.app_id}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.app_url + path, timeout=10, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.post(self.app_url + path, json=body, timeout=10, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.session.put(self.app_url + path, json=body, timeout=10, **kwargs)

    def start(self, meeting_id: str | None = None, **body: Any) -> dict[str, Any]:
        """Start a recording and return its data (asserting the 200)."""
        response = self.post("/recordings", {"meeting_id": meeting_id or new_id(), **body})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def recording(self, recording_id: str) -> dict[str, Any]:
        response = self.get(f"/recordings/{recording_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def act(self, recording_id: str, action: str) -> requests.Response:
        return self.put(f"/recordings/{recording_id}", {"action": action})

    def close(self) -> None:
        self.session.close()


def new_id() -> str:
    return str(uuid.uuid4())
