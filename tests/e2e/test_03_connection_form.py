"""The connection form in a real browser: Debian's headless Chromium driven by Selenium (chromium-driver).

Logs in, adds a "Cloudflare RealtimeKit" connection, checks what a user sees (labels, help, hidden and
required fields), saves it, then tests the saved connection through the REST API.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import record
from tests.e2e.deployment import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    CANARY_TOKEN,
    Deployment,
    ensure_debian_packages,
    log,
)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1600",
)
CONN_ID = "rtk_browser"


def _browser(profile: str):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _wait(what: str, find, timeout: float = 60):  # type: ignore[no-untyped-def]
    """Poll ``find`` until it returns something; React re-renders make elements stale meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = find()
            if found:
                return found
        except StaleElementReferenceException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"browser: {what} not found")


def _click(what: str, find, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Click the first element ``find`` returns, again if a re-render made it stale."""

    def clicked() -> bool:
        _wait(what, find, timeout)[0].click()
        return True

    _wait(f"{what} (click)", clicked, timeout)


def test_connection_form(deployment: Deployment) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = deployment
    ensure_debian_packages({"chromium": "chromium", "chromedriver": "chromium-driver"})
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="rtk-e2e-chromium-") as profile:
        driver = _browser(profile)
        try:

            def shot(name: str) -> None:
                path = d.screenshots / f"{len(shots) + 1:02d}-{name}.png"
                driver.save_screenshot(str(path))
                shots.append(path)

            def buttons(text: str):  # type: ignore[no-untyped-def]
                return [b for b in driver.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == text]

            driver.get(f"{d.api_url}/")
            user = _wait("login form", lambda: driver.find_elements(By.CSS_SELECTOR, "input[name=username]"))[
                0
            ]
            user.send_keys(ADMIN_USER)
            password = driver.find_element(By.CSS_SELECTOR, "input[name=password]")
            password.send_keys(ADMIN_PASSWORD)
            shot("login")
            password.send_keys(Keys.ENTER)
            _wait("logged in", lambda: "/auth/login" not in driver.current_url)
            driver.get(f"{d.api_url}/connections")
            _click("Add Connection", lambda: buttons("Add Connection"))
            dialog = _wait("dialog", lambda: driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"))[0]
            dialog.find_element(By.CSS_SELECTOR, "input[name=connection_id]").send_keys(CONN_ID)
            kind = dialog.find_element(By.CSS_SELECTOR, "input[role=combobox]")
            kind.send_keys("Cloudflare RealtimeKit")

            def option():  # type: ignore[no-untyped-def]
                return [
                    o
                    for o in driver.find_elements(By.CSS_SELECTOR, "[role=option], [id*='-option-']")
                    if o.text.strip() == "Cloudflare RealtimeKit"
                ]

            _click("the connection type in the list", option)
            _wait(
                "standard fields", lambda: dialog.find_elements(By.CSS_SELECTOR, "input[name=password]"), 60
            )
            shot("standard-fields")

            def field(name: str) -> dict[str, object]:
                """What a user sees of one input: its label, help, required mark, placeholder."""
                inputs = dialog.find_elements(By.CSS_SELECTOR, f"[name='{name}']")
                if not inputs:
                    return {"shown": False}
                root = inputs[0].find_element(By.XPATH, "./ancestor::*[@role='group'][1]")
                labels = root.find_elements(By.CSS_SELECTOR, "label")
                helps = root.find_elements(By.CSS_SELECTOR, "[data-part=helper-text]")
                return {
                    "shown": inputs[0].is_displayed(),
                    "label": labels[0].text.replace("*", "").strip() if labels else "",
                    "required": bool(root.find_elements(By.CSS_SELECTOR, ".chakra-field__requiredIndicator"))
                    or inputs[0].get_attribute("required") is not None,
                    "help": helps[0].text if helps else "",
                    "placeholder": inputs[0].get_attribute("placeholder") or "",
                }

            standard = {name: field(name) for name in ("host", "password", "login", "schema", "port")}
            _click("Extra Fields", lambda: buttons("Extra Fields"))
            _wait("extra fields", lambda: dialog.find_elements(By.CSS_SELECTOR, "[name=element_account_id]"))
            time.sleep(0.5)
            extra = {name: field(f"element_{name}") for name in ("account_id", "app_id")}
            shot("extra-fields")
            for name, seen in {**standard, **extra}.items():
                record("3 connection form", **{name: seen})

            failures = []
            # Standard fields get no help text in Airflow 3.3: their placeholder is the help.
            password = standard["password"]
            if password.get("label") != "API Token" or not password["shown"] or not password["placeholder"]:
                failures.append(f"API Token field: {standard['password']}")
            for name in ("login", "schema", "port"):
                if standard[name]["shown"]:
                    failures.append(f"{name} is shown")
            for name, label in (("account_id", "Account ID"), ("app_id", "App ID")):
                seen = extra[name]
                if seen.get("label") != label or not seen.get("help") or not seen.get("required"):
                    failures.append(f"{label}: {seen}")

            # Fill in and save (the token field is in the standard section).
            dialog.find_element(By.CSS_SELECTOR, "[name=element_account_id]").send_keys(
                "023e105f4ecef8ad9ca31a8372d0c353"
            )
            dialog.find_element(By.CSS_SELECTOR, "[name=element_app_id]").send_keys(
                "2a95132c15732412d22c1476fa83f27a"
            )
            _click("Standard Fields", lambda: buttons("Standard Fields"))
            time.sleep(0.5)
            host = dialog.find_element(By.CSS_SELECTOR, "input[name=host]")
            host.send_keys(d.emulator_url)
            dialog.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(CANARY_TOKEN)
            shot("filled")
            _click("Save", lambda: buttons("Save"))
            _wait("saved", lambda: not driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"), 20)
            time.sleep(1)
            shot("saved")
        finally:
            driver.quit()

    saved = d.api("GET", f"/connections/{CONN_ID}")
    tested = d.api(
        "POST",
        "/connections/test",
        json={
            "connection_id": CONN_ID,
            "conn_type": saved["conn_type"],
            "host": saved["host"],
            "password": CANARY_TOKEN,
            "extra": saved["extra"],
        },
    )
    record(
        "3 connection form",
        saved=f"conn_type={saved['conn_type']} host={saved['host']} extra={saved['extra']}",
        api_connection_test=tested,
        screenshots=", ".join(str(p) for p in shots),
    )
    for path in shots:
        log(f"screenshot: {path}")
    if not tested.get("status"):
        failures.append(f"connection test: {tested}")
    assert not failures, failures
