import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, WINDOW


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", password="pw-operator")


@pytest.fixture
def limited_staff(db):
    """``limited_staff("app.codename", ...)``: a staff user holding only those permissions."""

    def make(*permissions: str, username: str = "limited"):
        user = User.objects.create_user(username, password=f"pw-{username}", is_staff=True)
        for name in permissions:
            app_label, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache

    return make


# --- a real browser: Playwright driving Debian's chromium (`make browser` installs it) ------------


@pytest.fixture(scope="session")
def chromium():
    """One headless chromium for the session. Playwright's sync API runs an event loop in this thread, so
    Django's guard against ORM calls from async code is lifted for the tests' own (synchronous) queries."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium, live_server):
    """A fresh 1,280 x 800 browser tab on the live server; closed (its polling with it) at the end of the test."""
    context = chromium.new_context(viewport=WINDOW, base_url=live_server.url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshots(tmp_path):
    """``screenshots(page, "home")`` saves a full-page PNG: under $CONSOLE_SCREENSHOTS (``make screenshots`` points it
    at docs/console) or the test's tmp dir."""
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(tab, name: str) -> Path:
        path = folder / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
