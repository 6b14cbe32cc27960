"""A local emulator of Cloudflare RealtimeKit's recording API, for testing DAGs offline (like moto).

It serves the six recording endpoints over real HTTP (stdlib ``http.server``, HTTP/1.1 keep-alive) under
``/client/v4/accounts/{account_id}/realtime/kit/{app_id}/``, in either API version (``current`` or
``legacy``, see api-notes.md), with:

* a time-driven lifecycle (INVOKED -> RECORDING -> UPLOADING -> UPLOADED, pause/resume, auto-stop at
  ``max_seconds``), computed lazily from a clock that tests can :meth:`~RealtimeKitEmulator.advance`;
* presigned-like download URLs served by the emulator itself: deterministic bytes of any size (even
  several GiB, never held in memory), Range requests, ETag, S3-style expiry;
* fault injection (error status + Retry-After, delay, dropped connection before or after the request
  took effect, connection dropped mid-body) and a log of every request and response.

Example::

    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(time_scale=0.01) as emu:
        os.environ.update(emu.env())          # AIRFLOW_CONN_REALTIMEKIT_DEFAULT
        rec = emu.seed_recording(status="UPLOADED")
        emu.add_fault(method="GET", path=r"/recordings/", status=429, retry_after=1)
        ...

Run it standalone with ``rtk-emulator`` or ``python -m airflow_provider_rtk.testing.emulator``.
"""

from airflow_provider_rtk.testing.emulator.faults import Fault, RequestRecord
from airflow_provider_rtk.testing.emulator.server import RealtimeKitEmulator

__all__ = ["Fault", "RealtimeKitEmulator", "RequestRecord"]
