"""The OpenAPI document and its browsable docs page (assets served from the package: no CDN)."""

from __future__ import annotations

from flask import Request, Response

from udaconnect import flask_edge
from udaconnect.openapi import render


def handle(request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return flask_edge.method_not_allowed("GET")
    path = request.path
    if path == "/api/openapi.json":
        return flask_edge.json_response(render())
    if path in ("/api/docs", "/api/docs/"):
        if path == "/api/docs":
            return Response(status=308, headers={"Location": "/api/docs/"})
        path = "/api/docs/index.html"
    from udaconnect.docs import asset

    found = asset(path.removeprefix("/api/docs/"))
    if found is None:
        return flask_edge.problem(404, f"no such resource: {path}")
    body, content_type = found
    return Response(body, content_type=content_type, headers={"Cache-Control": "public, max-age=300"})
