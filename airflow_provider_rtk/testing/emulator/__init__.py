"""A local emulator of Cloudflare RealtimeKit's recording API, for testing DAGs offline (like moto).

It serves the six recording endpoints over real HTTP (stdlib ``http.server``, HTTP/1.1 keep-alive) under
``/client/v4/accounts/{account_id}/realtime/kit/{app_id}/``, in either API version (``current`` or
``legacy``, see docs/api-notes.md), with:

* a time-driven lifecycle (INVOKED -> RECORDING -> UPLOADING -> UPLOADED, pause/resume, auto-stop at
  ``max_seconds``), computed lazily from a clock that tests can :meth:`~RealtimeKitEmulator.advance`;
* meetings that record by themselves: :meth:`~RealtimeKitEmulator.start_meeting_recording` (start
  reason RECORD_ON_START) and :meth:`~RealtimeKitEmulator.end_meeting` (everyone left: stop reason
  ALL_PEERS_LEFT), the recordings an event-driven DAG sees without any task starting them;
* presigned-like download URLs served by the emulator itself: deterministic bytes of any size (even
  several GiB, never held in memory), Range requests, ETag, S3-style expiry;
* fault injection (error status + Retry-After, delay, dropped connection before or after the request
  took effect, connection dropped mid-body), for the next N requests or for N seconds (``duration``),
  refused connections for N seconds (:meth:`~RealtimeKitEmulator.refuse_connections`), and a log of
  every request and response.

Example::

    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(time_scale=0.01) as emu:
        os.environ.update(emu.env())          # AIRFLOW_CONN_REALTIMEKIT_DEFAULT
        rec = emu.seed_recording(status="UPLOADED")
        emu.add_fault(method="GET", path=r"/recordings/", status=429, retry_after=1)
        ...

Run it standalone with ``rtk-emulator`` or ``python -m airflow_provider_rtk.testing.emulator``
(``--help`` lists the options).

Admin endpoint
--------------
Off by default; enabled by ``RealtimeKitEmulator(admin=True)`` or ``rtk-emulator --admin``. It lets
another process (a deployment test) drive a running emulator: JSON over HTTP on the emulator's own port,
under ``/_emulator/`` (outside ``/client/v4``), without authentication (a loopback test tool). Admin
requests bypass faults and are not in the request log. Errors answer ``{"error": "..."}`` (400, 404, 405).

* ``POST /_emulator/faults`` with :class:`Fault` fields (``method``, ``path`` regex, ``status``,
  ``retry_after``, ``envelope``, ``message``, ``delay``, ``drop``, ``apply``, ``drop_after_bytes``,
  ``times``, ``duration``) -> 201 ``{"id": N}``; ``GET /_emulator/faults`` -> ``{"faults": [{"id", ...,
  "hits", "active"}]}``; ``DELETE /_emulator/faults`` removes them all.
* ``POST /_emulator/refuse`` ``{"seconds": N}`` -> 200: the listening socket and every open connection
  are closed for N seconds (clients get connection refused), then the emulator listens again on the same
  port by itself.
* ``GET /_emulator/requests`` -> ``{"requests": [{"time": <epoch s>, "method", "path", "status"}]}``
  (``status`` null when no answer was sent; never a query, header or body); ``DELETE`` clears the log.
* ``POST /_emulator/recordings`` with :meth:`~RealtimeKitEmulator.seed_recording` arguments
  (``invoked_time`` as ISO 8601) -> 201 and the recording's API view.
* ``POST /_emulator/meeting-recordings`` with :meth:`~RealtimeKitEmulator.start_meeting_recording`
  arguments (``meeting_id`` required) -> 201 and the view of a recording the meeting started by itself
  (``start_reason`` RECORD_ON_START); 400 if the meeting already has an active recording.
* ``POST /_emulator/meetings/{meeting_id}/end`` -> 200 ``{"recordings": [...]}``: everyone left the
  meeting (:meth:`~RealtimeKitEmulator.end_meeting`); its active recordings stop with ``stop_reason``
  ALL_PEERS_LEFT. 404 for a meeting the emulator has never seen.
* ``GET /_emulator/recordings/{id}/sha256?kind=video|audio|<layer>`` -> ``{"sha256": "..."}`` (default
  ``video``).
"""

from airflow_provider_rtk.testing.emulator.emulator import RealtimeKitEmulator
from airflow_provider_rtk.testing.emulator.faults import Fault
from airflow_provider_rtk.testing.emulator.request_log import RequestRecord

__all__ = ["Fault", "RealtimeKitEmulator", "RequestRecord"]
