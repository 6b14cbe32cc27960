"""The connection form's extra fields: required, labelled, with help giving an example value (the browser
check is in ``make e2e``: tests/e2e/test_03_connection_form.py)."""

from __future__ import annotations

import sys
import types

from airflow_provider_rtk.get_provider_info import get_provider_info
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

FIELDS = {"account_id": "Account ID", "app_id": "App ID"}


def test_conn_fields_are_required_with_help():
    (declared,) = get_provider_info()["connection-types"]
    for name, label in FIELDS.items():
        field = declared["conn-fields"][name]
        assert field["label"] == label
        # Airflow 3.2+ marks a field required when its schema type does not admit null.
        assert field["schema"]["type"] == "string"
        assert field["schema"]["minLength"] == 1
        assert "e.g. " in field["description"]


def test_airflow_31_widgets_carry_the_same_labels_and_help(monkeypatch):
    """Airflow 3.1 reads the hook's WTForms widgets (FAB is not installed here: WTForms is stubbed, as
    Airflow's own connection-form service stubs it)."""

    class StringField:
        def __init__(self, label, validators=(), description=""):
            self.label, self.validators, self.description = label, list(validators), description

    wtforms = types.ModuleType("wtforms")
    wtforms.StringField = StringField
    validators = types.ModuleType("wtforms.validators")
    validators.InputRequired = lambda: "input-required"
    babel = types.ModuleType("flask_babel")
    babel.lazy_gettext = str
    for name, module in (("wtforms", wtforms), ("wtforms.validators", validators), ("flask_babel", babel)):
        monkeypatch.setitem(sys.modules, name, module)
    (declared,) = get_provider_info()["connection-types"]
    widgets = RealtimeKitHook.get_connection_form_widgets()
    assert set(widgets) == set(FIELDS)
    for name, label in FIELDS.items():
        assert widgets[name].label == label
        assert widgets[name].description == declared["conn-fields"][name]["description"]
        assert widgets[name].validators == ["input-required"]
