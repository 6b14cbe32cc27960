"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

import copy
from importlib.metadata import version
from typing import Any, Final

__all__ = ["ACCOUNT_ID_HELP", "APP_ID_HELP", "get_provider_info"]

#: Help under the connection form's extra fields (Airflow 3.2+ from ``conn-fields``, 3.1 from the hook).
ACCOUNT_ID_HELP = (
    "The Cloudflare account that owns the RealtimeKit app (dashboard URL or Account Home), "
    "e.g. 023e105f4ecef8ad9ca31a8372d0c353"
)
APP_ID_HELP = (
    "The RealtimeKit app's id (Realtime > RealtimeKit > your app), e.g. 2a95132c-1573-2412-d22c-1476fa83f27a"
)


_PROVIDER_INFO: Final[dict[str, Any]] = {
    "package-name": "airflow-provider-rtk",
    "name": "Cloudflare RealtimeKit",
    "description": (
        "Record Cloudflare RealtimeKit meetings on a schedule and archive the recordings: hook, "
        "operators, sensor, deferrable trigger, download operator and a local API emulator."
    ),
    "integrations": [
        {
            "integration-name": "Cloudflare RealtimeKit",
            "external-doc-url": "https://developers.cloudflare.com/realtime/realtimekit/",
            "tags": ["service"],
        }
    ],
    "hooks": [
        {
            "integration-name": "Cloudflare RealtimeKit",
            "python-modules": ["airflow_provider_rtk.hooks.realtimekit"],
        }
    ],
    "operators": [
        {
            "integration-name": "Cloudflare RealtimeKit",
            "python-modules": [
                "airflow_provider_rtk.operators.recording",
                "airflow_provider_rtk.operators.download",
            ],
        }
    ],
    "sensors": [
        {
            "integration-name": "Cloudflare RealtimeKit",
            "python-modules": ["airflow_provider_rtk.sensors.recording"],
        }
    ],
    "triggers": [
        {
            "integration-name": "Cloudflare RealtimeKit",
            "python-modules": [
                "airflow_provider_rtk.triggers.recording",
                "airflow_provider_rtk.triggers.events",
            ],
        }
    ],
    # ``realtimekit://<account_id>/<app_id>/recordings``: Airflow validates and normalises these asset
    # URIs with the sanitizer when a DAG declares one (a bad URI fails the DAG's parse).
    "asset-uris": [{"schemes": ["realtimekit"], "handler": "airflow_provider_rtk.assets.sanitize_uri"}],
    "connection-types": [
        {
            "connection-type": "realtimekit",
            "hook-class-name": "airflow_provider_rtk.hooks.realtimekit.RealtimeKitHook",
            "hook-name": "Cloudflare RealtimeKit",
            # Airflow 3.2+ builds the form from these: a non-null schema type marks a field required
            # and the description shows under it (3.3 shows placeholders for standard fields only,
            # so the example value is in the description).
            "conn-fields": {
                "account_id": {
                    "label": "Account ID",
                    "description": ACCOUNT_ID_HELP,
                    "schema": {"type": "string", "minLength": 1},
                },
                "app_id": {
                    "label": "App ID",
                    "description": APP_ID_HELP,
                    "schema": {"type": "string", "minLength": 1},
                },
            },
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login"],
                "relabeling": {"password": "API Token", "host": "Base URL"},
                "placeholders": {
                    "host": "https://api.cloudflare.com/client/v4",
                    "password": "Cloudflare API token with the Realtime permission",
                    "account_id": "Cloudflare account id",
                    "app_id": "RealtimeKit app id",
                },
            },
        }
    ],
}


def get_provider_info() -> dict[str, Any]:
    """What Airflow's ProvidersManager reads: the provider's modules, connection type and asset URI scheme."""
    return {**copy.deepcopy(_PROVIDER_INFO), "versions": [version("airflow-provider-rtk")]}
