"""Presigned download URLs, S3-style: issued with a signature and an expiry, checked like S3 checks them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from airflow_provider_rtk.testing.emulator.clock import Clock
from airflow_provider_rtk.testing.emulator.files import FILES_PREFIX
from airflow_provider_rtk.testing.emulator.responses import FileError

_AMZ_DATE = "%Y%m%dT%H%M%SZ"


class UrlSigner:
    """Signs ``/_files/{recording_id}/{kind}`` URLs with a per-emulator key, valid ``ttl`` API seconds."""

    def __init__(self, clock: Clock, ttl: int) -> None:
        self.clock = clock
        self.ttl = ttl
        self._key = secrets.token_bytes(32)

    def presign(self, recording_id: str, kind: str, file_base: str, issued: int) -> str:
        """A URL for one file, issued at API second ``issued`` (whole seconds, like ``X-Amz-Date``)."""
        amz_date = self.clock.to_datetime(issued).strftime(_AMZ_DATE)
        signature = self._signature(recording_id, kind, amz_date, str(self.ttl))
        return (
            f"{file_base}{FILES_PREFIX}{recording_id}/{quote(kind, safe='')}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={amz_date}&X-Amz-Expires={self.ttl}&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={signature}"
        )

    def check(self, recording_id: str, kind: str, query: dict[str, list[str]], now: float) -> None:
        """Raise the :class:`FileError` S3 would answer (signature first, then expiry), or pass."""
        params = {key: values[-1] for key, values in query.items() if values}
        signature = params.get("X-Amz-Signature")
        amz_date = params.get("X-Amz-Date")
        expires = params.get("X-Amz-Expires")
        if signature is None or amz_date is None or expires is None:
            raise FileError(
                403,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Signature, X-Amz-Date and X-Amz-Expires "
                "parameters",
            )
        if not hmac.compare_digest(signature, self._signature(recording_id, kind, amz_date, expires)):
            raise FileError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
        if now >= self.clock.from_datetime(issued) + int(expires):
            raise FileError(403, "AccessDenied", "Request has expired")

    def _signature(self, recording_id: str, kind: str, amz_date: str, expires: str) -> str:
        message = f"{recording_id}\n{kind}\n{amz_date}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
