"""``_connection``: what the hook reads from an Airflow connection (built in memory, no metadata DB)."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_rtk._core.connection import ConnectionSettings, settings_from, ui_field_behaviour
from airflow_provider_rtk.exceptions import RealtimeKitConfigError
from airflow_provider_rtk.get_provider_info import get_provider_info


def conn(**fields) -> Connection:
    extra = fields.pop("extra", {"account_id": "acc", "app_id": "app"})
    return Connection(conn_id="rtk", conn_type="realtimekit", extra=json.dumps(extra), **fields)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://api.cloudflare.com/client/v4"),
        ("api.example.com", None, "https://api.example.com/client/v4"),
        ("http://127.0.0.1", 8787, "http://127.0.0.1:8787/client/v4"),
        ("https://proxy.example.com/cf/client/v4/", None, "https://proxy.example.com/cf/client/v4"),
    ],
)
def test_base_url(host, port, expected):
    assert settings_from(conn(host=host, port=port, password="tok"), "rtk").base_url == expected


def test_overrides_prefixed_extras_and_the_app_base():
    prefixed = conn(
        password="tok", extra={"extra__realtimekit__account_id": "a p", "extra__realtimekit__app_id": "b"}
    )
    settings = settings_from(prefixed, "rtk")
    assert settings.app_base == "https://api.cloudflare.com/client/v4/accounts/a%20p/realtime/kit/b"
    assert settings_from(prefixed, "rtk", account_id="o", app_id="p").app_base.endswith(
        "/accounts/o/realtime/kit/p"
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "no API token"),
        ({"password": "tok", "extra": {"app_id": "b"}}, "no account_id"),
        ({"password": "tok", "extra": {"account_id": "a"}}, "no app_id"),
    ],
)
def test_missing_fields_are_named(fields, named):
    with pytest.raises(RealtimeKitConfigError, match=rf"^connection 'rtk' has {named}"):
        settings_from(conn(**fields), "rtk")


def test_the_token_is_never_shown():
    settings = ConnectionSettings("https://h", "canary-token", "a", "b")
    assert "canary-token" not in repr(settings)


def test_ui_field_behaviour_is_the_provider_infos():
    (declared,) = get_provider_info()["connection-types"]
    behaviour = ui_field_behaviour()
    assert behaviour["hidden_fields"] == declared["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == declared["ui-field-behaviour"]["relabeling"]
    assert behaviour["placeholders"] == declared["ui-field-behaviour"]["placeholders"]


@pytest.mark.parametrize("host", ["http://10.0.0.5:8080", "http://api.example.com", "http://[2001:db8::1]"])
def test_plain_http_to_another_machine_is_refused(host):
    with pytest.raises(RealtimeKitConfigError, match="allow_insecure_http") as info:
        settings_from(conn(host=host, password="tok-secret"), "rtk")
    assert "connection 'rtk'" in str(info.value)
    assert "tok-secret" not in str(info.value)


@pytest.mark.parametrize("host", ["http://127.0.0.1:8787", "http://localhost:9", "http://[::1]:8787"])
def test_plain_http_on_loopback_is_the_emulator_and_allowed(host):
    assert settings_from(conn(host=host, password="tok"), "rtk").base_url.startswith("http://")


def test_plain_http_elsewhere_needs_the_explicit_opt_in():
    extra = {"account_id": "acc", "app_id": "app", "allow_insecure_http": True}
    settings = settings_from(conn(host="http://10.0.0.5:8080", password="tok", extra=extra), "rtk")
    assert settings.base_url == "http://10.0.0.5:8080/client/v4"
