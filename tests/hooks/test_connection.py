"""The connection: environment JSON, field resolution, errors naming the missing field, test_connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from airflow_provider_rtk.exceptions import (
    RealtimeKitAuthError,
    RealtimeKitConfigError,
    RealtimeKitNotFoundError,
)
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook


def _set_conn(monkeypatch, **conn) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps({"conn_type": "realtimekit", **conn}))


def test_settings_from_environment_json(monkeypatch):
    _set_conn(
        monkeypatch,
        host="http://127.0.0.1:8787/client/v4",
        password="tok-12345",
        extra={"account_id": "acc", "app_id": "app"},
    )
    settings = RealtimeKitHook().settings
    assert settings.base_url == "http://127.0.0.1:8787/client/v4"
    assert (settings.account_id, settings.app_id, settings.token) == ("acc", "app", "tok-12345")
    assert "tok-12345" not in repr(settings)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://api.cloudflare.com/client/v4"),
        ("api.example.com", "https://api.example.com/client/v4"),
        ("https://proxy.example.com/cf/client/v4/", "https://proxy.example.com/cf/client/v4"),
    ],
)
def test_base_url(monkeypatch, host, expected):
    conn = {"password": "tok-12345", "extra": {"account_id": "a", "app_id": "b"}}
    if host:
        conn["host"] = host
    _set_conn(monkeypatch, **conn)
    assert RealtimeKitHook().settings.base_url == expected


def test_prefixed_extras_and_overrides(monkeypatch):
    _set_conn(
        monkeypatch,
        password="tok-12345",
        extra={"extra__realtimekit__account_id": "acc-p", "extra__realtimekit__app_id": "app-p"},
    )
    assert RealtimeKitHook().settings.account_id == "acc-p"
    hook = RealtimeKitHook(account_id="acc-o", app_id="app-o")
    assert (hook.settings.account_id, hook.settings.app_id) == ("acc-o", "app-o")


@pytest.mark.parametrize(
    ("conn", "field"),
    [
        ({"extra": {"account_id": "a", "app_id": "b"}}, "API token"),
        ({"password": "tok-12345", "extra": {"app_id": "b"}}, "account_id"),
        ({"password": "tok-12345", "extra": {"account_id": "a"}}, "app_id"),
    ],
)
def test_missing_fields_are_named(monkeypatch, conn, field):
    _set_conn(monkeypatch, **conn)
    with pytest.raises(RealtimeKitConfigError, match=field) as info:
        _ = RealtimeKitHook().settings
    assert "realtimekit_default" in str(info.value)
    ok, message = RealtimeKitHook().test_connection()
    assert not ok
    assert field in message


def test_test_connection_success(emulator):
    ok, message = RealtimeKitHook().test_connection()
    assert ok, message
    assert emulator.app_id in message
    (request,) = emulator.requests
    assert request.query["per_page"] == ["1"]


def test_test_connection_three_distinct_failures(emulator, monkeypatch):
    good = json.loads(emulator.connection_json())

    bad_token = {**good, "password": "not-the-token"}
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(bad_token))
    ok, token_message = RealtimeKitHook().test_connection()
    assert not ok
    assert "token" in token_message.lower()
    assert "401" in token_message

    wrong_app = {**good, "extra": {**good["extra"], "app_id": "0" * 32}}
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(wrong_app))
    ok, app_message = RealtimeKitHook().test_connection()
    assert not ok
    assert "app_id" in app_message

    wrong_account = {**good, "extra": {**good["extra"], "account_id": "f" * 32}}
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(wrong_account))
    ok, account_message = RealtimeKitHook().test_connection()
    assert not ok
    assert "account_id" in account_message

    unreachable = {**good, "host": "http://127.0.0.1:9/client/v4"}
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(unreachable))
    ok, unreachable_message = RealtimeKitHook().test_connection()
    assert not ok
    assert "Could not reach" in unreachable_message

    assert len({token_message, app_message, unreachable_message}) == 3
    for message in (token_message, app_message, account_message, unreachable_message):
        assert emulator.token not in message


def test_airflow_providers_list_shows_the_provider():
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    providers = {p["package_name"]: p for p in json.loads(out.stdout[out.stdout.index("[") :])}
    assert "airflow-provider-rtk" in providers
    assert providers["airflow-provider-rtk"]["description"].startswith("Record Cloudflare RealtimeKit")


def test_provider_info_declares_the_connection_type():
    from airflow_provider_rtk.get_provider_info import get_provider_info

    info = get_provider_info()
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "realtimekit"
    assert set(conn_type["conn-fields"]) == {"account_id", "app_id"}
    assert set(conn_type["ui-field-behaviour"]["hidden-fields"]) == {"schema", "port", "login"}
    behaviour = RealtimeKitHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == conn_type["ui-field-behaviour"]["hidden-fields"]
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(section, []):
            for module in entry["python-modules"]:
                __import__(module)


def test_the_hooks_own_auth_and_not_found_errors_say_what_to_check(emulator, monkeypatch):
    """Called from a user's own task, not only through the operators: the hint is the hook's."""
    good = json.loads(emulator.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps({**good, "password": "not-the-token"}))
    with pytest.raises(RealtimeKitAuthError) as info:
        RealtimeKitHook().get_recording(str(uuid.uuid4()))
    assert str(info.value).startswith(
        "the API token was rejected (HTTP 401): check the connection's password"
    )
    assert info.value.status_code == 401
    assert "not-the-token" not in str(info.value)

    wrong_account = {**good, "extra": {**good["extra"], "account_id": "f" * 32}}
    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(wrong_account))
    with pytest.raises(RealtimeKitAuthError, match=r"^access denied \(HTTP 403\) to account 'f{32}': check"):
        list(RealtimeKitHook().list_recordings())

    monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps(good))
    missing = str(uuid.uuid4())
    with pytest.raises(RealtimeKitNotFoundError, match=rf"^recording {missing} not found \(HTTP 404\)"):
        RealtimeKitHook().get_recording(missing)
