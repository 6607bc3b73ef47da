"""Driving the console in a real browser: Playwright with Debian's chromium (``make browser`` installs it)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WINDOW = {"width": 1280, "height": 800}


def assert_fits_the_window(tab) -> None:
    """No page may scroll sideways at 1,280 pixels."""
    width = tab.evaluate("document.scrollingElement.scrollWidth")
    assert width <= WINDOW["width"], f"{tab.url} is {width}px wide"


def log_in(tab, username: str, password: str) -> None:
    tab.goto("/admin/login/")
    assert_fits_the_window(tab)
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("input[type=submit]")
    tab.wait_for_url("**/admin/")
