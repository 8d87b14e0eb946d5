"""The web client says in words that a search took too long (issue 10: a 504 from the search's deadline, or from
something in between that gave up), and offers no "Try again" that would only wait as long again."""

from __future__ import annotations

import json

from udaconnect.errors import SearchTimeout
from udaconnect.problems import error_answer, problem_body
from web.test_browser import api, defaults, person_url, settle, signed, subject, urls  # noqa: F401 - fixtures
from web.test_modules import run, web_only  # noqa: F401 - fixtures

RENDER = """const api = await import('/js/api.js');
            const response = new Response(JSON.stringify(arg), {status: 504, statusText: 'Gateway Timeout',
                                          headers: {'Content-Type': 'application/problem+json'}});
            globalThis.fetch = async () => response;
            let error;
            try { await api.getPerson(1); } catch (e) { error = e; }
            const el = m.problemBlock(error, {retry: () => {}}); document.body.append(el);
            return [el.innerText, el.querySelectorAll('button').length];"""


def search_timeout_body() -> dict:
    """The body the API answers for a search stopped at its deadline, built by the same code."""
    status, detail, errors, _ = error_answer(SearchTimeout(10))
    return problem_body(status, detail, errors)


def test_the_apis_search_timeout_is_shown_in_its_own_words(run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    body = search_timeout_body()
    text, buttons = run("problem", RENDER, body)
    assert "Search took too long" in text and body["detail"] in text
    assert buttons == 0


def test_a_gateways_504_is_shown_in_words_too(run) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    gateway = {"type": "about:blank", "title": "Gateway Timeout", "status": 504,
               "detail": "the connections function did not answer within 60 s", "errors": []}
    text, buttons = run("problem", RENDER, gateway)
    assert "The search took too long" in text and "fewer days, a shorter distance or a time window" in text
    assert buttons == 0


def test_a_timed_out_search_page_shows_the_problem(page, urls, signed, subject, defaults):  # type: ignore[no-untyped-def]  # noqa: F811
    body = json.dumps(search_timeout_body())
    page.route("**/connection?**", lambda route: route.fulfill(
        status=504, content_type="application/problem+json", body=body,
        headers={"Access-Control-Allow-Origin": "*"}))
    page.goto(signed(person_url(urls, subject["id"], defaults)))
    settle(page)
    text = page.inner_text("[data-testid=results] [data-testid=error]")
    assert "Search took too long" in text and "shorter date range" in text
