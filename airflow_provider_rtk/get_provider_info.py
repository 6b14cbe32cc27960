"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-rtk",
        "name": "Cloudflare RealtimeKit",
        "description": (
            "Record Cloudflare RealtimeKit meetings on a schedule and archive the recordings: hook, "
            "operators, sensor, deferrable trigger, download operator and a local API emulator."
        ),
        "versions": [version("airflow-provider-rtk")],
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
                "python-modules": ["airflow_provider_rtk.triggers.recording"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "realtimekit",
                "hook-class-name": "airflow_provider_rtk.hooks.realtimekit.RealtimeKitHook",
                "hook-name": "Cloudflare RealtimeKit",
                "conn-fields": {
                    "account_id": {
                        "label": "Account ID",
                        "description": "Cloudflare account id that owns the RealtimeKit app.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "app_id": {
                        "label": "App ID",
                        "description": "RealtimeKit app id.",
                        "schema": {"type": ["string", "null"]},
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
