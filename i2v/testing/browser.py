"""Fixtures for browser tests: headless Chromium through Playwright, driving the app
on pytest-django's live_server as the `owner` user.

Import them into a test module (pytest_plugins is only allowed in the root conftest):

    from i2v.testing.browser import browser, owner_page  # noqa: F401

`owner_page` gives a `LivePage`: the Playwright page, logged in, plus a log of the
requests it made and of the errors it reported. Every console error and uncaught
exception fails the test: the fixture asserts there were none at teardown, and
`LivePage.assert_no_console_errors()` lets a test say so explicitly at its end.
"""

import contextlib
import hashlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright's own wait for each action / expect; the app answers in milliseconds, but on a loaded 2-core
# machine an uploaded file's tile once stayed a skeleton past 5 s (its fetch late, as far as could be told).
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session (each test gets its own context)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # The sync API keeps an asyncio loop set as running in the main thread, which
    # makes Django refuse ORM calls from the test itself unless told otherwise.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def write_renditions(user):
    """Make the rendition files of every Asset of `user` exist, as tiny JPEGs.

    Test assets (conftest.make_asset) only name their renditions; writing real files
    under MEDIA_ROOT lets pages load them without 404s. Files are written directly
    (not through default_storage.save, which would rename an existing name).
    """
    from PIL import Image

    from library.models import Asset

    root = Path(django_settings.MEDIA_ROOT)
    for renditions in Asset.objects.filter(owner=user).values_list("renditions", flat=True):
        for entry in (renditions or {}).values():
            path = root / entry["name"]
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            # A colour per asset so a screenshot shows distinct tiles.
            colour = tuple(hashlib.sha256(entry["name"].rsplit("-", 1)[0].encode()).digest()[:3])
            Image.new("RGB", (entry["w"], entry["h"]), colour).save(path, "JPEG", quality=70)


# Chromium's own line for any answer of 400 and up, a designed refusal included (a form answered 422 with
# its errors, a 413's or a 429's toast): the network's log, not the page's, and no script can keep it out.
DESIGNED_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of (400|403|409|413|422|429) ")


@contextlib.contextmanager
def page_without_javascript(browser, live_server, client, user):
    """A Playwright page with JavaScript off, logged in as `user` through `client`'s session: what the
    pages do with plain forms and links alone."""
    client.force_login(user)
    context = browser.new_context(java_script_enabled=False)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    try:
        yield context.new_page()
    finally:
        context.close()


class LivePage:
    """A logged-in Playwright page on the live server, with what it requested and reported."""

    def __init__(self, page, base_url, user):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.requests = []  # (method, path) of every request the page made
        self.errors = []  # console errors and uncaught exceptions
        self.checked = False
        page.on("request", self._on_request)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _on_request(self, request):
        self.requests.append((request.method, urlsplit(request.url).path))

    def _on_console(self, message):
        if message.type != "error" or DESIGNED_REFUSAL.match(message.text):
            return
        url = (message.location or {}).get("url", "")
        self.errors.append(f"console: {message.text} ({url})")

    def url(self, path):
        return self.base_url + path

    def hold_first(self, pattern, ms=1_500):
        """Hold back the answer to the first request matching `pattern` (a Playwright URL glob) for
        `ms`, so the requests after it are asked while it is on its way; the list of held URLs."""
        held = []

        def route(request_route):
            if not held:
                held.append(request_route.request.url)
                self.page.wait_for_timeout(ms)
            request_route.continue_()

        self.page.route(pattern, route)
        return held

    def goto(self, path):
        """Open `path` on the live server, after making the user's media files real."""
        write_renditions(self.user)
        return self.page.goto(self.url(path))

    def count(self, path, method=None):
        """How many requests went to exactly `path` (optionally with `method`)."""
        return sum(1 for m, p in self.requests if p == path and (method is None or m == method))

    def settle(self, timeout=3_000):
        """Wait until the network is quiet (e.g. lazy images loaded), at most `timeout` ms."""
        from playwright.sync_api import Error

        try:
            self.page.wait_for_load_state("networkidle", timeout=timeout)
        except Error:
            pass  # a polling row can keep the network busy; the wait was only a courtesy

    def dom_nodes(self):
        """Every DOM node the page holds after a garbage collection, in the document or not, as Chromium
        counts them: text nodes and the Attr nodes it keeps once a script has reached an attribute as a node."""
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.send("Performance.enable")
        cdp.send("HeapProfiler.collectGarbage")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return int(metrics["Nodes"])

    def document_nodes(self):
        """The nodes a walk of the document reaches, text included: dom_nodes() less those out of the document,
        in user-agent shadow trees (form controls') and Attr nodes."""
        return self.page.evaluate("() => { const walk = document.createTreeWalker(document); let n = 1; while (walk.nextNode()) n++; return n; }")

    def assert_no_console_errors(self):
        if not self.checked:
            self.settle()
            self.checked = True
        assert self.errors == [], "the browser reported errors:\n" + "\n".join(self.errors)


@pytest.fixture
def owner_page(browser, live_server, settings, client, owner):
    """A fresh browser context logged in as `owner`; fails the test on any console error."""
    # Plain static files: the manifest storage of production needs collectstatic,
    # and the live server serves /static/ from the finders anyway.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(owner)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    live = LivePage(context.new_page(), live_server.url, owner)
    try:
        yield live
        live.assert_no_console_errors()
    finally:
        context.close()


@pytest.fixture
def serial(live_server):
    """On SQLite, one request at a time, and the test's own queries between them.

    The live server's threads and the test share a single in-memory SQLite
    connection there, which can't write while another thread's read is open
    ("database table is locked"). Uploads write while tiles poll, so the server
    takes requests in turn, and the test holds the same lock around its own
    queries. PostgreSQL (and a file SQLite, in production) need none of this.
    """
    from django.db import connection

    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        yield contextlib.nullcontext()
        return
    lock = threading.RLock()
    server = live_server.thread.httpd
    app = server.get_app()

    def one_at_a_time(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]

    server.set_app(one_at_a_time)
    try:
        yield lock
    finally:
        server.set_app(app)
