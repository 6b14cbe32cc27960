"""What the provider derives from its exceptions: the class for an HTTP status, whether an error is
transient, and the one wording of "what to check" for errors that retrying
cannot fix (401, 403, 404), shared by the hook, operators, sensor, triggers and download.
"""

from __future__ import annotations

import copy

from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitAuthError,
    RealtimeKitConflictError,
    RealtimeKitError,
    RealtimeKitNotFoundError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
)

_STATUS_CLASSES: dict[int, type[RealtimeKitApiError]] = {
    401: RealtimeKitAuthError,
    403: RealtimeKitAuthError,
    404: RealtimeKitNotFoundError,
    409: RealtimeKitConflictError,
    429: RealtimeKitRateLimitError,
}


def api_error_class(status_code: int) -> type[RealtimeKitApiError]:
    """The most specific ``RealtimeKitApiError`` subclass for an HTTP status."""
    if status_code >= 500:
        return RealtimeKitServerError
    return _STATUS_CLASSES.get(status_code, RealtimeKitApiError)


def is_transient(exc: BaseException) -> bool:
    """``exc.transient`` for the provider's errors; False for anything else."""
    return isinstance(exc, RealtimeKitError) and exc.transient


def what_to_check(
    exc: RealtimeKitApiError, *, account_id: str | None = None, app_id: str | None = None
) -> str:
    """What went wrong and what to check, for the errors that retrying cannot fix (401, 403, 404); "" for
    any other. The one wording shared by the operators, the sensor, the trigger, the download and
    ``RealtimeKitHook.test_connection``.

    A 404 on ``recordings/<id>`` names the recording; any other 404 the account and app.
    """
    if "://" in (exc.path or ""):
        return ""  # a storage host's answer to a presigned URL, not the API's
    account = f"'{account_id}'" if account_id else "(the connection's account_id)"
    app = f"'{app_id}'" if app_id else "(the connection's app_id)"
    if exc.status_code == 401:
        return (
            "the API token was rejected (HTTP 401): check the connection's password (the API token) and "
            "that the token has the Realtime permission"
        )
    if exc.status_code == 403:
        return (
            f"access denied (HTTP 403) to account {account}: check account_id, and that the token belongs "
            "to this account and has the Realtime permission"
        )
    if exc.status_code == 404:
        parts = (exc.path or "").strip("/").split("/")
        if len(parts) == 2 and parts[0] == "recordings" and parts[1] not in ("track", "active-recording"):
            return (
                f"recording {parts[1]} not found (HTTP 404) in account {account} / app {app}: check "
                "recording_id, account_id and app_id"
            )
        return f"account {account} / app {app} not found (HTTP 404): check account_id and app_id"
    return ""


def explain(exc: BaseException, *, account_id: str | None = None, app_id: str | None = None) -> str:
    """``exc`` as a message that starts with what to check, when there is something to check."""
    hint = (
        what_to_check(exc, account_id=account_id, app_id=app_id)
        if isinstance(exc, RealtimeKitApiError)
        else ""
    )
    return f"{hint}. API said: {exc}" if hint else str(exc)


def with_hint(
    exc: RealtimeKitApiError, *, account_id: str | None = None, app_id: str | None = None
) -> RealtimeKitApiError:
    """A copy of ``exc`` (same class and fields) whose message starts with ``what_to_check``; ``exc``
    itself when there is nothing to add."""
    hint = what_to_check(exc, account_id=account_id, app_id=app_id)
    if not hint or str(exc).startswith(hint):
        return exc
    hinted = copy.copy(exc)
    Exception.__init__(hinted, explain(exc, account_id=account_id, app_id=app_id))
    return hinted
