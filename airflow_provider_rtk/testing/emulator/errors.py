"""The two error envelopes a RealtimeKit client must read, and the exception that carries them."""

from __future__ import annotations

from typing import Any, Literal

Envelope = Literal["rtk", "cf"]

# Cloudflare v4 error codes the emulator uses: 10000 (authentication/authorisation, as the edge answers),
# 7003 (no such route) and 10405 (method not allowed).
CF_AUTH_CODE = 10000
CF_ROUTE_CODE = 7003
CF_METHOD_CODE = 10405


def rtk_error_body(status: int, message: str) -> dict[str, Any]:
    """RealtimeKit's own envelope: ``{"success": false, "error": {"code": <status>, "message": ...}}``."""
    return {"success": False, "error": {"code": status, "message": message}}


def cf_error_body(code: int, message: str) -> dict[str, Any]:
    """Cloudflare's v4 envelope, used for failures raised before RealtimeKit (auth, routing, edge)."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class ApiError(Exception):
    """An error answer: HTTP ``status`` with a body in the ``envelope`` shape."""

    def __init__(self, status: int, message: str, *, envelope: Envelope = "rtk", cf_code: int = CF_AUTH_CODE):
        super().__init__(message)
        self.status = status
        self.message = message
        self.envelope: Envelope = envelope
        self.cf_code = cf_code

    def body(self) -> dict[str, Any]:
        if self.envelope == "cf":
            return cf_error_body(self.cf_code, self.message)
        return rtk_error_body(self.status, self.message)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
