"""The admin's Content-Security-Policy: sent where HTML is, obeyed by every page, absent elsewhere.

The policy (settings.CONTENT_SECURITY_POLICY) allows no inline script and no inline style, so a
`<style>` block, a `style=` attribute or an inline `<script>` anywhere in a page is refused by the
browser. The browser test opens the pages in headless Chromium (tests/browser.py) and fails on any
violation it reports (the `securitypolicyviolation` event and the console).
"""

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from django.apps import apps
from django.urls import reverse

from tests.browser import PASSWORD, chromium_page, make_operator, require_browser
from tests.factories import make_rule
from tests.wechat_http import post_signed_text

ROOT = Path(__file__).resolve().parent.parent
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def policy_parts(header: str) -> set[str]:
    return {part.strip() for part in header.split(";") if part.strip()}


# --- the header --------------------------------------------------------------------------------


def test_admin_pages_send_the_strict_policy(client, admin_user):
    response = client.get(reverse("admin:login"))
    assert policy_parts(response["Content-Security-Policy"]) == policy_parts(POLICY)
    client.force_login(admin_user)
    response = client.get(reverse("admin:index"))
    assert policy_parts(response["Content-Security-Policy"]) == policy_parts(POLICY)


def test_the_endpoint_and_the_health_check_send_no_policy(client, wechat, db):
    assert "Content-Security-Policy" not in client.get("/healthz")
    for path in ("/wechat/", "/wechat"):
        assert "Content-Security-Policy" not in client.get(path)  # 400: no signature
    response = wechat.post(wechat.xml("text", Content="hi"))
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


# --- our templates carry no inline style or script ---------------------------------------------

INLINE = [
    (re.compile(r"<style[\s>]", re.I), "a <style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on…= event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def project_templates() -> list[Path]:
    found = []
    for config in apps.get_app_configs():
        folder = Path(config.path) / "templates"
        if folder.is_dir() and ROOT in folder.parents and "site-packages" not in folder.parts:
            found += sorted(folder.rglob("*.html"))
    return found


def test_our_templates_have_no_inline_style_or_script():
    templates = project_templates()
    assert any("replyrule" in str(path) for path in templates), templates
    problems = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}: {what}"
        for path in templates
        for pattern, what in INLINE
        for text in [path.read_text(encoding="utf-8")]
        for match in pattern.finditer(text)
    ]
    assert not problems, "move these into the app's static CSS/JS:\n" + "\n".join(problems)


# --- in the browser ----------------------------------------------------------------------------

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
  + (e.sample ? ` (${e.sample})` : "")));
"""


class Recorder:
    """Collect CSP violations of every page a Playwright page opens."""

    def __init__(self, page):
        self.page = page
        self.violations: list[str] = []
        self.visited: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.violations.append(f"{self.page.url}: console: {message.text}")

    def open(self, url: str):
        response = self.page.goto(url)
        assert response is not None and response.status < 500, (url, response and response.status)
        self.check()
        return response

    def check(self):
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(150)  # the event is dispatched asynchronously
        self.visited.append(self.page.url)
        for violation in self.page.evaluate("window.__csp || []"):
            self.violations.append(f"{self.page.url}: {violation}")
        self.page.evaluate("window.__csp = []")


def post_as_wechat(url: str, text: str, msg_id: int) -> None:
    _reply, headers = post_signed_text(url, text, msg_id=msg_id)
    assert "Content-Security-Policy" not in headers


@pytest.mark.django_db(transaction=True)
def test_admin_pages_raise_no_csp_violation_in_chromium(live_server):
    require_browser()
    rule = make_rule("营业时间", keywords=["营业时间"], text="9:00–18:00")
    for msg_id, text in enumerate(["营业时间", "发票"], start=7_200_000_000_000_000_001):
        post_as_wechat(f"{live_server.url}/wechat/", text, msg_id)
    user = make_operator()
    base = live_server.url

    with chromium_page() as page:
        pages = Recorder(page)
        # The login page, and the lockout page of a mistyped account.
        pages.open(f"{base}{reverse('admin:login')}")
        for attempt in range(5):
            page.fill("#id_username", "someone-else")
            page.fill("#id_password", f"wrong-{attempt}")
            page.click("#login-form [type=submit]")
            pages.check()
        assert page.locator("#lockout-message").count() == 1

        pages.open(f"{base}{reverse('admin:login')}?next={reverse('admin:index')}")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("#login-form [type=submit]")
        page.wait_for_url(f"{base}{reverse('admin:index')}")
        pages.check()

        # Reply rules: the list, a rule's change form, a new rule's form, the tester with a result.
        pages.open(f"{base}{reverse('admin:replies_replyrule_changelist')}")
        pages.open(f"{base}{reverse('admin:replies_replyrule_change', args=[rule.pk])}")
        pages.open(f"{base}{reverse('admin:replies_replyrule_add')}")
        pages.open(f"{base}{reverse('admin:replies_replyrule_tester')}?msg_type=text&text=营业时间")

        # The message log, a message, and its follower's conversation.
        pages.open(f"{base}{reverse('admin:replies_message_changelist')}")
        page.click("#result_list tbody tr a")
        pages.check()
        conversation = page.locator("a[href*='conversation']")
        if conversation.count():
            pages.open(urljoin(page.url, conversation.first.get_attribute("href")))

        # The insights pages, found from the admin index (their URLs are the app's business).
        if apps.is_installed("insights"):
            pages.open(f"{base}{reverse('admin:index')}")
            link = page.locator("#content-main .app-insights th[scope=row] a").first
            assert link.count(), "no link to the insights pages on the admin index"
            pages.open(urljoin(page.url, link.get_attribute("href")))
            tabs = [
                urljoin(page.url, href)
                for href in page.locator(".insights-tabs a").evaluate_all(
                    "links => links.map(a => a.getAttribute('href'))"
                )
            ]
            assert len(tabs) >= 4, tabs
            for url in tabs:
                pages.open(url)

        # Staff pages: two-factor enrolment (an inline SVG QR code), then Django's own.
        pages.open(f"{base}{reverse('admin:two_factor')}")
        assert page.locator("#totp-qr svg").count() == 1
        pages.open(f"{base}{reverse('admin:password_change')}")
        pages.open(f"{base}{reverse('admin:auth_user_change', args=[user.pk])}")

        # Every list on the admin index (ours, auth's, axes', django-otp's): Django's change list
        # has an inline <style> of its own when a model admin has no actions.
        pages.open(f"{base}{reverse('admin:index')}")
        lists = [
            urljoin(page.url, href)
            for href in page.locator("#content-main th[scope=row] a").evaluate_all(
                "links => links.map(a => a.getAttribute('href'))"
            )
        ]
        assert len(lists) >= 8, lists
        for url in lists:
            pages.open(url)

    assert len(pages.visited) >= 20, pages.visited
    assert not pages.violations, "\n".join(pages.violations)
