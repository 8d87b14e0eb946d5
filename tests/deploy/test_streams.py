"""A live encounter stream crosses the edge, the gateway and encounters: none of them may cut it before it ends
itself (UDACONNECT_LIVE_TIMEOUT, then the client resumes with Last-Event-ID), and open streams may not take the
gateway's every slot so that API calls queue behind them."""

from __future__ import annotations

import re

from tests.deploy.conftest import Doc, find, knative_services

from udaconnect.encounters.live import HEARTBEAT
from udaconnect.routes import route_for
from udaconnect.settings import Settings


def _service(docs: list[Doc], name: str) -> Doc:
    return next(s for s in knative_services(docs) if s["metadata"]["name"] == name)


def test_no_hop_cuts_a_live_stream_before_it_ends_itself(overlay) -> None:
    name, docs = overlay
    config = find(docs, "ConfigMap", "udaconnect-config")[0]["data"]
    stream = Settings.from_env(config).live_timeout
    route = route_for("/api/persons/1/encounters/live")
    assert route is not None
    for hop in ("gateway", route.target):
        seconds = _service(docs, hop)["spec"]["template"]["spec"].get("timeoutSeconds", 300)
        assert seconds >= stream + 30, f"{name}: {hop}'s timeoutSeconds {seconds} cuts a {stream:g} s stream"
    # the edge's nginx waits at most proxy_read_timeout between two bytes: the keep-alives come more often
    nginx = find(docs, "ConfigMap", "edge-nginx")[0]["data"]["nginx.conf"]
    read = int(re.search(r"proxy_read_timeout (\d+)s;", nginx).group(1))  # type: ignore[union-attr]
    assert read > 2 * HEARTBEAT, name


def test_open_streams_do_not_fill_the_gateways_hard_limit(overlay) -> None:
    name, docs = overlay
    spec = _service(docs, "gateway")["spec"]["template"]["spec"]
    # containerConcurrency 0: no hard limit in the queue-proxy, each request (a stream too) is a coroutine
    assert spec.get("containerConcurrency", 0) == 0, name
    annotations = _service(docs, "gateway")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["autoscaling.knative.dev/target"]) > 0  # streams still scale the gateway out
