"""Signing in to the web client: token links (an attendee's own page, an organizer's directory), sign out, an expired
token, no token at all, and the OpenID Connect authorization code flow with PKCE against a fake issuer."""

from __future__ import annotations

import re

import pytest

ATTENDEE, OTHER = 3, 4
TOKEN_KEY = "udaconnect.token"


def stored_token(page) -> str | None:  # type: ignore[no-untyped-def]
    return page.evaluate("k => sessionStorage.getItem(k)", TOKEN_KEY)


def signed_out(page) -> str:  # type: ignore[no-untyped-def]
    """The sign-in screen's words, once shown."""
    page.get_by_test_id("signin").wait_for()
    return page.get_by_test_id("signin").inner_text()


def test_an_attendee_link_opens_their_own_page_and_no_one_elses(page, web_stack, screenshots):  # type: ignore[no-untyped-def]
    page.goto(web_stack.link("/", "attendee", ATTENDEE))
    page.wait_for_url(re.compile(rf"/persons/{ATTENDEE}\?"))
    assert "#" not in page.url and "token" not in page.url  # out of the address bar and its history
    assert stored_token(page)
    page.get_by_test_id("person-name").filter(has_not_text=f"Person {ATTENDEE}").wait_for()
    assert page.inner_text("[data-testid=signed-in-as]") == f"Attendee {ATTENDEE}"
    assert page.is_hidden("#people")  # the directory is the organizers'
    page.get_by_test_id("live-status").filter(has_text="Live").wait_for()  # the stream took the token too
    page.screenshot(path=str(screenshots / "signed-in-attendee.png"), full_page=True)

    page.goto(f"{web_stack.url}/persons/{OTHER}")  # the same tab: still signed in
    refused = page.get_by_test_id("refused")
    refused.wait_for()
    assert "Not yours" in refused.inner_text() and f"person {OTHER} is not you" in refused.inner_text()
    assert page.get_by_test_id("results").count() == 0
    page.get_by_test_id("own-page").click()
    page.wait_for_url(re.compile(rf"/persons/{ATTENDEE}\?"))
    page.get_by_test_id("person-name").filter(has_not_text=f"Person {ATTENDEE}").wait_for()


def test_an_organizer_gets_the_directory_and_opens_anyone(page, web_stack):  # type: ignore[no-untyped-def]
    page.goto(web_stack.link("/"))
    page.wait_for_selector("[data-testid=person-link]")
    assert page.inner_text("[data-testid=signed-in-as]") == "Organizer"
    page.click(f"[data-testid=person-link][data-person-id='{OTHER}']")
    page.wait_for_url(re.compile(rf"/persons/{OTHER}\?"))
    page.get_by_test_id("summary").or_(page.get_by_test_id("empty")).first.wait_for()
    assert page.get_by_test_id("refused").count() == 0


def test_sign_out_forgets_the_token(page, web_stack):  # type: ignore[no-untyped-def]
    page.goto(web_stack.link("/", "attendee", ATTENDEE))
    page.get_by_test_id("sign-out").click()
    assert "Sign in to UdaConnect" in signed_out(page)
    assert stored_token(page) is None
    assert page.get_by_test_id("signin-reason").count() == 0  # signing out is no failure
    page.goto(f"{web_stack.url}/persons/{ATTENDEE}")
    assert "udaconnect token --person ID --link" in signed_out(page)


def test_an_expired_link_says_so_on_the_sign_in_screen(page, web_stack, screenshots):  # type: ignore[no-untyped-def]
    page.goto(web_stack.link("/", "attendee", ATTENDEE, ttl=-600))  # past the API's 30 s of leeway
    reason = page.get_by_test_id("signin-reason")
    reason.wait_for()
    assert "expired" in reason.inner_text() and "new sign-in link" in reason.inner_text()
    assert stored_token(page) is None
    page.screenshot(path=str(screenshots / "signin-expired.png"), full_page=True)


def test_without_a_token_the_sign_in_screen_says_how_to_get_a_link(page, web_stack, screenshots):  # type: ignore[no-untyped-def]
    requests: list[str] = []
    page.on("request", lambda r: "/api/" in r.url and requests.append(r.url))
    page.goto(web_stack.url + "/")
    text = signed_out(page)
    assert "udaconnect token --person ID --link" in text
    assert requests == []  # nothing asked of the API that could only fail
    page.goto(web_stack.url + "/#token=not-a-jwt")
    assert "holds no attendee" in page.inner_text("[data-testid=signin-reason]")
    page.screenshot(path=str(screenshots / "signin.png"), full_page=True)


def test_the_session_reads_a_tokens_payload_without_trusting_it(page, web_stack):  # type: ignore[no-untyped-def]
    page.goto(web_stack.url + "/health")  # same origin, no app started
    body = """async (tokens) => { const m = await import('/js/session.js');
              return tokens.map((t) => m.principalOf(t, {issuer: 'https://id.example', person_claim: 'pid',
                                                         roles_claim: 'roles'})); }"""
    enc = "btoa(JSON.stringify(c)).replace(/=+$/, '').replace(/\\+/g, '-').replace(/\\//g, '_')"
    make = f"(claims) => claims.map((c) => 'x.' + {enc} + '.y')"
    tokens = page.evaluate(make, [
        {"role": "attendee", "person": 5, "exp": 9}, {"role": "organizer"}, {"role": "device", "person": 5},
        {"iss": "https://id.example", "pid": "7"}, {"iss": "https://id.example", "roles": "staff organizer"},
        {"role": "attendee", "person": "5; drop"},
    ])
    principals = page.evaluate(body, [*tokens, "not-a-jwt"])
    assert [(p or {}).get("role") for p in principals] == [
        "attendee", "organizer", None, "attendee", "organizer", None, None]
    assert principals[0]["personId"] == "5" and principals[0]["expires"] == 9
    assert principals[3]["personId"] == "7" and principals[4]["personId"] is None


@pytest.fixture
def issuer(web_stack):  # type: ignore[no-untyped-def]
    if web_stack.issuer is None:
        pytest.skip("no fake OpenID Connect issuer against a deployment")
    return web_stack.issuer


@pytest.mark.parametrize("user", [ATTENDEE, "organizer"])
def test_oidc_sign_in_with_pkce(page, web_stack, issuer, user):  # type: ignore[no-untyped-def]
    issuer.user = user
    page.goto(web_stack.url + "/")
    page.get_by_test_id("oidc-signin").click()
    if user == "organizer":
        page.wait_for_selector("[data-testid=person-link]")
        assert page.inner_text("[data-testid=signed-in-as]") == "Organizer"
    else:
        page.wait_for_url(re.compile(rf"/persons/{user}\?"))
        page.get_by_test_id("person-name").filter(has_not_text=f"Person {user}").wait_for()
    asked = issuer.authorizations[-1]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == f"{web_stack.url}/auth/callback" and asked["state"]
    assert issuer.exchanges[-1] == "ok"  # the token endpoint got the verifier matching the challenge
    assert stored_token(page).count(".") == 2 and "code=" not in page.url


def test_an_oidc_return_this_tab_did_not_start_is_refused(page, web_stack, issuer):  # type: ignore[no-untyped-def]
    page.goto(f"{web_stack.url}/auth/callback?code=stolen&state=forged")
    assert "this tab started no sign-in" in page.inner_text("[data-testid=signin-reason]")
    assert stored_token(page) is None and "code=" not in page.url


def test_an_unreachable_issuer_is_said_on_the_sign_in_screen(page, web_stack, issuer):  # type: ignore[no-untyped-def]
    page.route(f"{issuer.url}/.well-known/**", lambda route: route.abort())
    page.goto(web_stack.url + "/")
    page.get_by_test_id("oidc-signin").click()
    reason = page.get_by_test_id("signin-reason")
    reason.wait_for()
    assert f"Signing in with 127.0.0.1:{issuer.port} did not start" in reason.inner_text()
    assert stored_token(page) is None
