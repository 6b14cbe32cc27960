"""The Airflow connection of type ``realtimekit``: its constants and what the hook reads from it (the
default connection id is in ``_core.defaults``, which DAG files load)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import quote, urlsplit

from airflow_provider_rtk.exceptions import RealtimeKitConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_BASE_URL: Final[str] = "https://api.cloudflare.com/client/v4"
CONN_TYPE: Final[str] = "realtimekit"
USER_AGENT: Final[str] = "airflow-provider-rtk"


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from an Airflow connection, resolved once."""

    base_url: str
    token: str
    account_id: str
    app_id: str

    @property
    def app_base(self) -> str:
        """The URL every recordings path hangs off."""
        return (
            f"{self.base_url.rstrip('/')}/accounts/{quote(self.account_id, safe='')}"
            f"/realtime/kit/{quote(self.app_id, safe='')}"
        )

    def __repr__(self) -> str:  # never show the token
        return (
            f"ConnectionSettings(base_url={self.base_url!r}, account_id={self.account_id!r}, "
            f"app_id={self.app_id!r})"
        )


def settings_from(
    conn: Connection, conn_id: str, *, account_id: str | None = None, app_id: str | None = None
) -> ConnectionSettings:
    """Resolve a connection (overridden by ``account_id`` / ``app_id`` when given), or raise
    ``RealtimeKitConfigError`` naming the missing field and where to set it."""
    where = f"connection '{conn_id}'"
    token = (conn.password or "").strip()
    if not token:
        raise RealtimeKitConfigError(
            f'{where} has no API token: set the connection\'s Password field ("password" in the '
            "AIRFLOW_CONN_... JSON) to a Cloudflare API token with the Realtime permission"
        )
    extras = conn.extra_dejson
    account_id = account_id or _extra(extras, "account_id")
    app_id = app_id or _extra(extras, "app_id")
    for name, value in (("account_id", account_id), ("app_id", app_id)):
        if not value:
            raise RealtimeKitConfigError(
                f"{where} has no {name}: set the '{name}' extra field of the connection (\"extra\": "
                f'{{"{name}": "..."}} in the AIRFLOW_CONN_... JSON) or pass {name}= to the hook/operator'
            )
    base_url = _base_url(conn)
    _check_plain_http(base_url, where, allowed=_truthy(extras.get("allow_insecure_http")))
    return ConnectionSettings(
        base_url=base_url, token=token, account_id=cast("str", account_id), app_id=cast("str", app_id)
    )


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _check_plain_http(base_url: str, where: str, *, allowed: bool) -> None:
    """Refuse to send the API token in clear text to another machine: ``http://`` is for a local emulator
    (loopback) unless the connection opts in with the extra ``allow_insecure_http``."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or allowed or _loopback(parts.hostname or ""):
        return
    raise RealtimeKitConfigError(
        f"{where} has the plain-http host {parts.scheme}://{parts.netloc}: the API token would cross the "
        "network unencrypted. Use https://, or a loopback address for a local emulator, or set the "
        'connection extra "allow_insecure_http": true if the network is trusted'
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _extra(extras: Mapping[str, Any], name: str) -> str | None:
    value = extras.get(name) or extras.get(f"extra__{CONN_TYPE}__{name}")
    return str(value).strip() if value else None


def _base_url(conn: Connection) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if conn.port and not parts.port:
        host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
    if parts.path in ("", "/"):
        host = f"{host.rstrip('/')}/client/v4"
    return host.rstrip("/")


def ui_field_behaviour() -> dict[str, Any]:
    """The connection form layout as Airflow 3.1's ``get_ui_field_behaviour`` wants it: the provider
    info's ``ui-field-behaviour`` (which Airflow 3.2+ reads itself) with snake_case keys."""
    from airflow_provider_rtk.get_provider_info import get_provider_info

    (declared,) = (c for c in get_provider_info()["connection-types"] if c["connection-type"] == CONN_TYPE)
    return {key.replace("-", "_"): value for key, value in declared["ui-field-behaviour"].items()}


def storage_config_from_connection(
    conn_id: str, storage_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A start's ``storage_config`` from an Airflow connection, so that storage secrets stay in Airflow's
    secrets backend; keys of ``storage_config`` win over the connection's. Every secret is registered
    with the secret maskers.

    ``login``/``password`` become ``access_key``/``secret``, or for ``sftp`` ``username``/``password``
    with ``host``/``port`` from the connection's. Extras ``type``, ``bucket``, ``region`` (or
    ``region_name``), ``path``, ``host``, ``port``, ``private_key`` and ``auth_method`` fill the fields of
    the same name; ``type`` defaults to the connection type when that is a storage type (e.g. ``aws``).
    """
    from airflow.sdk import BaseHook

    from airflow_provider_rtk._core.redact import mask_config_secrets
    from airflow_provider_rtk._core.validation import STORAGE_FIELDS, STORAGE_TYPES

    conn = BaseHook.get_connection(conn_id)
    extras = conn.extra_dejson
    explicit = dict(storage_config or {})
    kind = explicit.get("type") or extras.get("type")
    if kind is None and conn.conn_type in STORAGE_TYPES:
        kind = conn.conn_type
    config: dict[str, Any] = {"type": kind} if kind else {}
    sftp = kind == "sftp"
    if conn.login:
        config["username" if sftp else "access_key"] = conn.login
    if conn.password:
        config["password" if sftp else "secret"] = conn.password
    if sftp and conn.host:
        config["host"] = conn.host
    if sftp and conn.port:
        config["port"] = conn.port
    if extras.get("region_name") is not None:
        config["region"] = extras["region_name"]
    config.update({k: extras[k] for k in STORAGE_FIELDS if extras.get(k) is not None})
    config.update(explicit)
    port = config.get("port")
    if isinstance(port, str) and port.strip().isdigit():
        config["port"] = int(port)
    mask_config_secrets(config)
    return config


def connection_form_widgets() -> dict[str, Any]:
    """The connection form's extra fields for Airflow 3.1 (3.2+ reads ``conn-fields`` from the provider
    info): the same labels, help text and required rule."""
    from flask_babel import lazy_gettext
    from wtforms import StringField
    from wtforms.validators import InputRequired

    from airflow_provider_rtk.get_provider_info import ACCOUNT_ID_HELP, APP_ID_HELP

    return {
        "account_id": StringField(
            lazy_gettext("Account ID"), validators=[InputRequired()], description=ACCOUNT_ID_HELP
        ),
        "app_id": StringField(lazy_gettext("App ID"), validators=[InputRequired()], description=APP_ID_HELP),
    }
