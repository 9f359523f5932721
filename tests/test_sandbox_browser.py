"""The sandbox in headless Chromium: install, approve, see a secret, disable, remove, be refused.

Needs Debian's `chromium` and `chromium-driver` packages. Nothing here downloads a
browser or a driver: the driver's path is given, so Selenium Manager never runs.
Each step leaves a screenshot in artifacts/sandbox/ for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_sandbox import Sandbox, running_sandbox

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "sandbox"
WAIT_SECONDS = 20.0
SITE_ID = "4f0c2a9e"
SITE = "Oakfield Primary"
HOSTILE = "<img src=x onerror=alert(1)> <!channel>"


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if not missing:
        return
    message = f"browser tests need {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    _require_browser()
    with running_sandbox(tmp_path / "sandbox.db") as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1440,960",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """The sandbox page as a person uses it; every wait re-finds elements (the page re-renders)."""

    def __init__(self, driver: Any, story: str) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.by = By
        self._wait = WebDriverWait(
            driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)
        )
        self._story = story
        self._shots = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        return self._wait.until(lambda _driver: condition(), message=f"waiting for {what}")

    def shot(self, name: str) -> None:
        self._shots += 1
        assert self.driver.save_screenshot(
            str(ARTIFACTS / f"{self._story}-{self._shots:02d}-{name}.png")
        )

    def find(self, css: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, css))

    def channel_message(self, text: str) -> Any:
        """The channel message (not a private reply) whose text contains `text`, or None."""
        for message in self.find_all("#messages .message:not(.ephemeral)"):
            if text in message.text:
                return message
        return None

    def private_replies(self) -> list[Any]:
        return self.find_all("#messages .message.ephemeral")

    def click_button(self, site: str, label: str) -> None:
        def press() -> bool:
            message = self.channel_message(site)
            if message is None:
                return False
            for button in message.find_elements(self.by.CSS_SELECTOR, ".bk-button"):
                if button.text == label:
                    button.click()
                    return True
            return False

        self.until(press, f"a {label} button on the message about {site}")

    def message_shows(self, site: str, *texts: str, buttons: set[str]) -> None:
        def shown() -> bool:
            message = self.channel_message(site)
            if message is None or not all(t in message.text for t in texts):
                return False
            labels = {b.text for b in message.find_elements(self.by.CSS_SELECTOR, ".bk-button")}
            return labels == buttons

        self.until(shown, f"the message about {site} to show {texts} and buttons {buttons}")

    def command(self, text: str) -> None:
        box = self.find("#composer-input")
        box.clear()
        box.send_keys(text)
        self.find("#composer-send").click()

    def install(self, *, app_id: str, site_id: str, name: str, urn: str, dfe: str) -> None:
        from selenium.webdriver.support.ui import Select

        self.until(lambda: self.find_all(f"#install-app option[value='{app_id}']"), "apps")
        Select(self.find("#install-app")).select_by_value(app_id)
        for field, value in (
            ("#install-site-id", site_id),
            ("#install-site-name", name),
            ("#install-urn", urn),
            ("#install-dfe", dfe),
        ):
            box = self.find(field)
            box.clear()
            box.send_keys(value)
        self.find("#install-send").click()
        self.until(lambda: "accepted" in self.find("#install-status").text, "the event to land")

    def modal(self, title: str) -> None:
        self.until(
            lambda: (
                self.find("#modal-dialog").is_displayed()
                and self.find("#modal-title").text == title
            ),
            f"the {title!r} form",
        )

    def send_modal(self, reason: str) -> None:
        box = self.find("#modal-input")
        box.clear()
        if reason:
            box.send_keys(reason)
        self.find("#modal-submit").click()

    def confirm(self) -> None:
        self.until(lambda: self.find("#confirm-dialog").is_displayed(), "the confirm dialog")
        self.find("#confirm-yes").click()

    def press(self, css: str) -> None:
        """Click what `css` finds, again if the page redrew it meanwhile."""
        from selenium.common.exceptions import StaleElementReferenceException

        def pressed() -> bool:
            try:
                self.find(css).click()
            except StaleElementReferenceException:
                return False
            return True

        self.until(pressed, css)

    def act_as(self, user: str) -> None:
        self.press(f".user-switch-option[data-user='{user}']")
        self.until(
            lambda: (
                self.find(f".user-switch-option[data-user='{user}']").get_attribute("aria-checked")
                == "true"
            ),
            f"acting as {user}",
        )

    def no_error(self) -> None:
        banner = self.find("#error-banner")
        assert not banner.is_displayed(), banner.text


def test_a_whole_install_lifecycle_in_the_browser(sandbox: Sandbox, browser: Any) -> None:
    page = Page(browser, "lifecycle")
    browser.get(sandbox.url + "/")
    page.until(lambda: page.find_all(".channel-tab[data-channel='C0INSTALLS']"), "the channels")
    page.shot("empty-channel")

    # SIMS ID: a school installs Homework Hub, which waits for approval.
    page.install(app_id="app-homework", site_id=SITE_ID, name=SITE, urn="123456", dfe="823/4001")
    page.message_shows(SITE, "Pending approval", buttons={"Approve", "Disable", "Remove"})
    page.shot("install-pending")

    page.click_button(SITE, "Approve")
    page.message_shows(SITE, "Enabled", "Enabled by @Ada Admin", buttons={"Disable"})
    page.no_error()
    page.shot("approved")

    page.command(f"/simsid secret app-homework {SITE_ID}")
    page.until(
        lambda: [
            r for r in page.private_replies() if "Only visible to you" in r.text and "ck_" in r.text
        ],
        "the private reply with the client key",
    )
    page.shot("secret-only-visible-to-you")

    # Disable asks why (optional); the reason shows on the message.
    page.click_button(SITE, "Disable")
    page.modal("Disable installation")
    page.shot("disable-asks-why")
    page.send_modal("Billing: invoice 42 unpaid")
    page.until(lambda: not page.find("#modal-dialog").is_displayed(), "the form to close")
    page.message_shows(SITE, "Disabled", "Billing: invoice 42 unpaid", buttons={"Enable", "Remove"})
    page.no_error()
    page.shot("disabled-with-reason")

    # Removing takes two admins here. A reason is required to ask.
    page.click_button(SITE, "Remove")
    page.modal("Ask to remove")
    page.send_modal("")
    page.until(lambda: page.find_all("#modal-dialog .modal-error"), "the missing reason")
    page.shot("remove-needs-a-reason")
    page.send_modal("No longer a customer")
    page.message_shows(
        SITE,
        "asked to remove it: No longer a customer",
        buttons={"Enable", "Confirm removal", "Cancel removal"},
    )
    page.shot("removal-requested")
    # The requester cannot confirm their own request...
    page.click_button(SITE, "Confirm removal")
    page.confirm()
    page.until(
        lambda: [r for r in page.private_replies() if "another admin must confirm" in r.text],
        "the refusal of a self-confirmation",
    )
    page.shot("self-confirm-refused")
    # ... another admin can.
    page.act_as("UADMIN2")
    page.click_button(SITE, "Confirm removal")
    assert f"Remove from {SITE}?" in page.until(
        lambda: page.find("#confirm-dialog").is_displayed() and page.find("#confirm-title").text,
        "the confirm dialog",
    )
    page.find("#confirm-yes").click()
    page.message_shows(SITE, "Removed", "No longer a customer", buttons=set())
    page.no_error()
    page.shot("removed-by-a-second-admin")

    # The Home tab: the latest decisions, with their reasons.
    page.press("#home-tab")
    page.until(
        lambda: (
            "Latest decisions" in page.find("#messages").text
            and "No longer a customer" in page.find("#messages").text
        ),
        "the admin's Home tab",
    )
    page.shot("home-tab")
    page.press(".channel-tab[data-channel='C0INSTALLS']")

    # Someone who is not an admin is refused, privately, and never sees the admin's replies.
    page.find(".user-switch-option[data-user='UGUEST']").click()
    page.until(lambda: not page.private_replies(), "the admin's private replies to vanish")
    page.command("/simsid pending")
    page.until(
        lambda: [r for r in page.private_replies() if "Only SIMS ID admins" in r.text],
        "the refusal",
    )
    page.shot("guest-refused")


def test_hostile_names_are_shown_literally(sandbox: Sandbox, browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    page = Page(browser, "hostile")
    browser.get(sandbox.url + "/")
    page.install(app_id="app-parent-portal", site_id="evil-1", name=HOSTILE, urn="", dfe="")
    # The tabs are redrawn when the channel's first message arrives: click again if so.
    page.press(".channel-tab[data-channel='C0PORTAL']")
    # Parent Portal bypasses approval: its installs arrive enabled.
    page.message_shows(HOSTILE, "Enabled", buttons={"Disable"})
    page.shot("hostile-name-literal")
    messages = page.find("#messages")
    assert not messages.find_elements(page.by.CSS_SELECTOR, "img")
    assert not messages.find_elements(page.by.CSS_SELECTOR, ".md-broadcast")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.accept()
