"""Browser-test helpers: Playwright drives Debian's Chromium against pytest-django's live_server.

One call per step, so a new page test is short:

    def test_something(live_server, tmp_path):
        user = make_operator()
        with logged_in_page(live_server, user) as page:
            page.goto(live_server.url + "/admin/replies/…/")
            screenshot(page, "something", tmp_path)

The browser is the distribution's (`bin/install_browser.sh` installs it), never one Playwright
downloads: `playwright install` is not used. Without Chromium or the playwright package the test
is skipped locally and fails under CI (env CI set), so CI cannot pass by skipping it.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("WXSITE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
]
# What an operator's browser sends: the admin answers in 简体中文 (LocaleMiddleware).
LOCALE = "zh-CN"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000  # per action; a hung page fails in seconds, not Playwright's default 30 s

OPERATOR = "operator"
PASSWORD = "browser-test-password-8Kq2"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (run bin/install_browser.sh as root)"
    return None


def require_browser() -> None:
    """Skip the calling test when the browser is missing; under CI, fail instead."""
    reason = missing_browser()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"browser test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser test: {reason}")


def make_operator(username: str = OPERATOR, password: str = PASSWORD):
    """A superuser to log in with. Call it before opening a page (see logged_in_page)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(username, f"{username}@example.com", password)


@contextmanager
def chromium_page() -> Iterator["Page"]:
    """A page in a fresh headless Chromium (its own temporary profile), closed afterwards."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="wxsite-chromium-") as profile,
        # Playwright's sync API keeps its asyncio loop "running" in this thread while it is
        # open, so Django would refuse ORM calls here (SynchronousOnlyOperation). The calls are
        # truly synchronous: allow them for the duration.
        mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}),
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=LAUNCH_ARGS,
            locale=LOCALE,
            timezone_id="Asia/Shanghai",
            viewport=VIEWPORT,
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


@contextmanager
def logged_in_page(live_server, user, password: str = PASSWORD) -> Iterator["Page"]:
    """A page logged into the admin as `user` (made with make_operator), on the admin index."""
    with chromium_page() as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        page.click("#login-form [type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        assert page.locator("#user-tools").count() == 1, "login failed"
        yield page


def screenshot_dir(default: Path) -> Path:
    """$WXSITE_SCREENSHOTS when set (CI keeps it as an artifact), else `default` (tmp_path)."""
    directory = Path(os.environ.get("WXSITE_SCREENSHOTS") or default)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page: "Page", name: str, default_dir: Path) -> Path:
    """Save a full-page PNG as <dir>/<name>.png, print its path for the test output, return it."""
    path = screenshot_dir(default_dir) / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot {name}: {path}")
    return path
