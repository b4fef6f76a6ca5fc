"""Content-Security-Policy in a real browser: every page carries the header, and
none of them (nor what htmx and our scripts do on them) breaks a rule of it.

A violation shows up two ways, and both are listened to: Chromium logs it to the
console ("Refused to execute inline script ..."), and the document fires a
`securitypolicyviolation` event, recorded by a script added before any page script.
"""

import re

import pytest
from playwright.sync_api import expect

from conftest import make_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.fixture
def csp_page(owner_page, owner):
    # The owner is staff, so the admin is among the pages visited.
    owner.is_staff = owner.is_superuser = True
    owner.save()
    owner_page.page.add_init_script(RECORD_VIOLATIONS)
    owner_page.headers = {}

    def remember(response):
        if response.request.resource_type == "document" or response.request.is_navigation_request():
            owner_page.headers[response.url] = response.headers

    owner_page.page.on("response", remember)
    return owner_page


def _visit(live, path):
    response = live.goto(path)
    assert response.ok, f"{path} answered {response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
    live.settle()
    assert live.page.evaluate("window.__violations") == [], path


def test_it_sends_the_policy_and_no_page_breaks_it(csp_page, owner):
    pipeline = make_pipeline(owner, name="Under policy", outputs=3, tags=["red-tag"])
    page = csp_page.page

    _visit(csp_page, "/jobs/")
    # htmx at work under the policy: expanding a row loads its steps and outputs.
    page.locator(f"#row-{pipeline.id} button[aria-expanded]").click()
    expect(page.locator(f"#row-{pipeline.id} + tr.detail .grid a.tile")).to_have_count(3)
    # The tag's colour is set by app.js (the policy allows no style attributes).
    chip = page.locator(f"#row-{pipeline.id} span[data-colour]")
    expect(chip).to_have_text("red-tag")
    assert chip.evaluate("el => el.style.getPropertyValue('--tag')").startswith("#")
    # The row menu, loaded by htmx.ajax, and a filter change (hx-get with push-url).
    page.locator(f"#row-{pipeline.id} button[aria-label=Actions]").click()
    expect(page.locator("#row-menu button", has_text="Rename")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#filters select[name=sort]").select_option("name")
    expect(page).to_have_url(re.compile(r"/jobs/\?.*sort=name"))
    assert page.evaluate("window.__violations") == []

    for path in (
        f"/jobs/{pipeline.id}/", "/library/", "/pipelines/new", "/settings/",
        "/admin/", "/admin/jobs/pipeline/", f"/admin/jobs/pipeline/{pipeline.id}/change/",
        "/admin/media_processing/queuestate/", "/admin/library/asset/",
    ):  # fmt: skip
        _visit(csp_page, path)
    csp_page.assert_no_console_errors()


def test_it_keeps_the_login_page_within_the_policy(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        response = page.goto(f"{live_server.url}/login/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [] and errors == []
    finally:
        context.close()
