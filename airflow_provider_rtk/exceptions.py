"""One exception hierarchy for everything the provider raises.

``RealtimeKitError`` is the root. API failures carry what the service said (``status_code``, ``code``,
``message``, Cloudflare ``ray_id``) whichever of the two error envelopes it used. Messages never contain
the API token or storage secrets: they are built only from the method, the path and the API's message.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException


class RealtimeKitError(AirflowException):
    """Base class of every error raised by this provider.

    ``transient`` is the one definition of "may succeed if tried again later": every retry loop, wait
    and download resume in the provider asks it, and nothing else.
    """

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later (no response, 429, 5xx); False by default."""
        return False


class RealtimeKitInputError(RealtimeKitError, ValueError):
    """Bad input, raised before any HTTP request is sent."""


class RealtimeKitConfigError(RealtimeKitError):
    """The Airflow connection lacks something the provider needs (token, account id, app id)."""


class RealtimeKitTransportError(RealtimeKitError):
    """The request did not get an HTTP response: connection refused or dropped, or a timeout.

    For a non-idempotent request this is *ambiguous*: the server may or may not have acted on it.
    """

    @property
    def transient(self) -> bool:
        return True


class RealtimeKitTimeoutError(RealtimeKitTransportError):
    """The request timed out (connecting or waiting for the response)."""


class RealtimeKitApiError(RealtimeKitError):
    """The API answered with an error status.

    :param status_code: HTTP status of the response.
    :param code: the error code from the envelope (RealtimeKit repeats the HTTP status; Cloudflare's edge
        uses its own numeric codes such as 10000).
    :param message: the API's message, verbatim.
    :param ray_id: Cloudflare's ``cf-ray`` header, to quote to Cloudflare support.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if it said.
    :param method: the request's HTTP method.
    :param path: the API path, or for a download the file's URL without its query (the signature).
    """

    status_code: int  # type: ignore[assignment]  # AirflowException declares an HTTPStatus here

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: int | str | None = None,
        ray_id: str | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.ray_id = ray_id
        self.retry_after = retry_after
        self.method = method
        self.path = path
        super().__init__(self._render())

    @property
    def transient(self) -> bool:
        """429 and 5xx: throttled or failing for now; any other status needs a change first."""
        return self.status_code == 429 or self.status_code >= 500

    def _render(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        code = f" (code {self.code})" if self.code is not None and self.code != self.status_code else ""
        ray = f" [cf-ray {self.ray_id}]" if self.ray_id else ""
        return f"{where}HTTP {self.status_code}{code}: {self.message}{ray}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only attributes through pickling (triggers and executors pickle exceptions).
        return (_rebuild_api_error, (type(self), self.__dict__.copy()))


def _rebuild_api_error(cls: type[RealtimeKitApiError], state: dict[str, object]) -> RealtimeKitApiError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


class RealtimeKitAuthError(RealtimeKitApiError):
    """401 or 403: the token is invalid, lacks the Realtime permission, or the account is not its own."""


class RealtimeKitNotFoundError(RealtimeKitApiError):
    """404: the recording, meeting, app or account does not exist."""


class RealtimeKitConflictError(RealtimeKitApiError):
    """409: the meeting already has an active recording and ``allow_multiple_recordings`` is not set."""


class RealtimeKitRateLimitError(RealtimeKitApiError):
    """429: too many requests; ``retry_after`` says how long to wait when the server said."""


class RealtimeKitServerError(RealtimeKitApiError):
    """5xx: the service failed; for a non-idempotent request the outcome is ambiguous."""


class RealtimeKitDownloadError(RealtimeKitError):
    """A recording file could not be downloaded completely and verified."""


class RealtimeKitRecordingStateError(RealtimeKitError):
    """The recording is in a state that does not allow the operation (ERRORED, not yet UPLOADED...)."""


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


def retry_after(exc: BaseException) -> float | None:
    """The seconds the server asked to wait (``Retry-After``) with ``exc``, if it did."""
    return exc.retry_after if isinstance(exc, RealtimeKitApiError) else None


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


def with_hint(
    exc: RealtimeKitApiError, *, account_id: str | None = None, app_id: str | None = None
) -> RealtimeKitApiError:
    """A copy of ``exc`` (same class and fields) whose message starts with ``what_to_check``; ``exc``
    itself when there is nothing to add."""
    hint = what_to_check(exc, account_id=account_id, app_id=app_id)
    if not hint or str(exc).startswith(hint):
        return exc
    hinted = _rebuild_api_error(type(exc), exc.__dict__.copy())
    Exception.__init__(hinted, f"{hint}. API said: {exc}")
    return hinted
