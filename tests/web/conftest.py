"""Browser fixtures: Debian's chromium driven by Playwright, pointed at the web client and its API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from web.fake_issuer import FakeIssuer

CHROMIUM = os.environ.get("UDACONNECT_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser download does not work here; these keep Debian's chromium quiet and offline.
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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def serve_web(env: dict[str, str]) -> Iterator[str]:
    """The web target alone, as its own functions-framework process with `env` over this one's: its URL, once
    /health answers (for a module fixture to yield from)."""
    import subprocess
    import sys

    from udaconnect.ports import free_port, until_ok
    from udaconnect.settings import PROJECT_ROOT

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--source", str(PROJECT_ROOT / "functions" / "main.py"),
         "--target", "web", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    if not until_ok(url + "/health", timeout=30):
        process.kill()
        pytest.fail("the web target did not start")
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package `playwright` is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser):  # type: ignore[no-untyped-def]
    # Reduced motion: the map's clusters then change at once rather than fading in and out while counted.
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The page runs under a strict Content-Security-Policy: a violation means something silently broke.
    page.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, f"JavaScript or CSP errors on the page: {errors}"


@pytest.fixture
def phone(chromium_browser):  # type: ignore[no-untyped-def]
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                           reduced_motion="reduce")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass(frozen=True)
class WebStack:
    """The web client and its API, with tokens they accept and the OpenID Connect issuer they trust (if any)."""

    url: str
    api: str
    token: Callable[..., str]  # (role="organizer", person_id=None, ttl=seconds) -> a bearer token
    issuer: FakeIssuer | None = None

    def link(self, path: str = "/", role: str = "organizer", person_id: int | None = None, ttl: float = 3600) -> str:
        """A sign-in link (as `udaconnect token --link` prints) that opens `path`."""
        return f"{self.url}{path}#token={self.token(role, person_id, ttl=ttl)}"

    def headers(self, role: str = "organizer", person_id: int | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, person_id)}"}


@pytest.fixture(scope="session")
def web_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """A running deployment when UDACONNECT_E2E_WEB_URL is set (tokens signed with UDACONNECT_AUTH_SIGNING_KEY_FILE),
    else the local stack (every target its own functions-framework process) over a small demo conference, trusting a
    fake OpenID Connect issuer besides its own tokens."""
    web, api = os.environ.get("UDACONNECT_E2E_WEB_URL"), os.environ.get("UDACONNECT_E2E_API_URL")
    if web:
        from datetime import timedelta

        from udaconnect.auth import issue
        from udaconnect.settings import Settings

        settings = Settings.from_env()

        def token(role: str = "organizer", person_id: int | None = None, ttl: float = 3600) -> str:
            return issue(settings, role, person_id=person_id, ttl=timedelta(seconds=ttl))

        yield WebStack(web.rstrip("/"), (api or web).rstrip("/"), token)
        return
    from conftest import create_database  # the session's PostGIS, from tests/conftest.py
    from udaconnect.ports import free_port
    from udaconnect.seed import seed
    from udaconnect.storage import database
    from udaconnect.synthetic import DemoConference
    from udaconnect_dev.localstack import LocalStack

    settings = create_database(request.getfixturevalue("postgres_server"), "udaconnect_web")
    seed(database.engine(settings), DemoConference(persons=70, days=1), show_progress=False)
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=tmp_path_factory.mktemp("logs"))
    with FakeIssuer(audience="udaconnect-web-tests", client_id="udaconnect-web") as issuer:
        try:
            with pytest.MonkeyPatch.context() as env:  # inherited by the stack's processes, then put back
                for name, value in issuer.environment.items():
                    env.setenv(name, value)
                # the demo's day is 6 Jul 2020: the defaults hold it (a page's explicit days), a day either side,
                # so a person's page opened without days shows it opens on their record's day instead
                env.setenv("UDACONNECT_WEB_START_DATE", "2020-07-05")
                env.setenv("UDACONNECT_WEB_END_DATE", "2020-07-07")
                stack.start()
            yield WebStack(stack.web_url, stack.api_url, stack.token, issuer)
        finally:
            stack.stop()


@pytest.fixture(scope="session")
def web_urls(web_stack: WebStack) -> tuple[str, str]:
    """(web client URL, API URL)."""
    return web_stack.url, web_stack.api
