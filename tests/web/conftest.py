"""Browser fixtures: Debian's chromium driven by Playwright, pointed at the web client and its API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def web_urls(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(web client URL, API URL): a running deployment when UDACONNECT_E2E_WEB_URL is set, else the local
    stack (every target its own functions-framework process) over a small demo conference."""
    web, api = os.environ.get("UDACONNECT_E2E_WEB_URL"), os.environ.get("UDACONNECT_E2E_API_URL")
    if web:
        yield web.rstrip("/"), (api or web).rstrip("/")
        return
    from conftest import create_database  # the session's PostGIS, from tests/conftest.py
    from udaconnect.localstack import LocalStack
    from udaconnect.ports import free_port
    from udaconnect.seed import seed
    from udaconnect.storage import database
    from udaconnect.synthetic import DemoConference

    settings = create_database(request.getfixturevalue("postgres_server"), "udaconnect_web")
    seed(database.engine(settings), DemoConference(persons=70, days=1), show_progress=False)
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=tmp_path_factory.mktemp("logs"))
    with stack as running:
        yield running.web_url, running.api_url
