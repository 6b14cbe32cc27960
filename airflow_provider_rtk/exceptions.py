"""One exception hierarchy for everything the provider raises.

``RealtimeKitError`` is the root. API failures carry what the service said (``status_code``, ``code``,
``message``, Cloudflare ``ray_id``) whichever of the two error envelopes it used. Messages never contain
the API token or storage secrets: they are built only from the method, the path and the API's message.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

__all__ = [
    "RealtimeKitApiError",
    "RealtimeKitAuthError",
    "RealtimeKitConfigError",
    "RealtimeKitConflictError",
    "RealtimeKitDownloadError",
    "RealtimeKitError",
    "RealtimeKitInputError",
    "RealtimeKitNotFoundError",
    "RealtimeKitRateLimitError",
    "RealtimeKitRecordingStateError",
    "RealtimeKitServerError",
    "RealtimeKitTimeoutError",
    "RealtimeKitTransportError",
]


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
