"""Security and CORS headers: the origins setting, and what a listed or an unlisted origin is granted."""

from __future__ import annotations

import pytest

from udaconnect.headers import cors, cors_preflight, over_https, parse_origins
from udaconnect.settings import Settings


def test_the_origins_setting() -> None:
    assert Settings.from_env({}).cors_origins == ()
    assert Settings.from_env({"UDACONNECT_CORS_ORIGINS": " https://a.example.org/, http://localhost:30000 ,"}
                             ).cors_origins == ("https://a.example.org", "http://localhost:30000")
    for bad in ("*", "a.example.org", "https://a.example.org/path", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="UDACONNECT_CORS_ORIGINS"):
            parse_origins(bad)


def test_only_a_listed_origin_is_echoed() -> None:
    allowed = {"https://a.example.org"}
    assert cors("https://a.example.org", allowed)["Access-Control-Allow-Origin"] == "https://a.example.org"
    assert cors("https://b.example.org", allowed) == cors("", allowed) == cors("null", allowed) == {}
    assert cors("https://a.example.org", ()) == {}


def test_a_preflight_allows_our_headers_and_ce_extensions_only() -> None:
    allowed = {"https://a.example.org"}
    answer = cors_preflight("https://a.example.org", allowed, "GET, POST", "authorization, ce-mine, x-evil, ce-a b")
    names = {name.strip().lower() for name in answer["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "ce-mine"} <= names and not {"x-evil", "ce-a b"} & names
    assert answer["Access-Control-Allow-Methods"] == "GET, POST"
    assert cors_preflight("https://b.example.org", allowed, "GET", "authorization") == {}


def test_https_is_what_the_edge_says() -> None:
    assert over_https("https", "") and over_https("http", "https") and over_https("http", "HTTPS, http")
    assert not over_https("http", "") and not over_https("http", "http")
