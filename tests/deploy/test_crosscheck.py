"""Cross-checks between the parts: Triggers and their subscribers, function targets, event types, the broker's
topic and Kafka settings against udaconnect.settings, ports and probes against what the image serves."""

from __future__ import annotations

import ast
import re

from tests.deploy.conftest import Doc, containers, env_of, find, knative_services

from udaconnect.routes import ROUTES, TARGETS
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect_dev.broker.loader import load_documents

VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def main_targets() -> set[str]:
    """The function names functions/main.py defines (what functions-framework can serve)."""
    tree = ast.parse((PROJECT_ROOT / "functions" / "main.py").read_text())
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")}


def config_env(docs: list[Doc]) -> dict[str, str]:
    return find(docs, "ConfigMap", "udaconnect-config")[0]["data"]


def test_every_function_target_is_served_by_main_and_deployed_once(overlay) -> None:
    name, docs = overlay
    assert set(TARGETS) <= main_targets()
    deployed = [env_of(ksvc["spec"]["template"]["spec"]["containers"][0])["FUNCTION_TARGET"]
                for ksvc in knative_services(docs)]
    assert sorted(deployed) == sorted(TARGETS), name
    for ksvc in knative_services(docs):
        target = env_of(ksvc["spec"]["template"]["spec"]["containers"][0])["FUNCTION_TARGET"]
        assert target == ksvc["metadata"]["name"], f"{name}: Service {ksvc['metadata']['name']} runs {target}"


def test_every_trigger_subscriber_is_a_service_in_the_manifests(overlay) -> None:
    name, docs = overlay
    triggers = find(docs, "Trigger")
    assert triggers, name
    for trigger in triggers:
        ref = trigger["spec"]["subscriber"].get("ref")
        assert ref, f"{trigger['metadata']['name']}: subscribe by ref, so the manifests can be checked"
        group = ref["apiVersion"].split("/")[0]
        matches = [d for d in find(docs, ref["kind"], ref["name"], api_group=group)
                   if d["metadata"].get("namespace") == ref.get("namespace", trigger["metadata"]["namespace"])]
        assert matches, f"{trigger['metadata']['name']}: no {ref['kind']} {ref['name']} in {name}"
        broker = trigger["spec"]["broker"]
        assert find(docs, "Broker", broker), f"{trigger['metadata']['name']}: no Broker {broker}"


def _filtered_types(trigger: Doc) -> set[str]:
    types = {v for k, v in trigger["spec"].get("filter", {}).get("attributes", {}).items() if k == "type"}
    items = list(trigger["spec"].get("filters", []))
    while items:
        item = items.pop()
        items.extend(item.get("any", []))  # a choice of types, e.g. one fix or a device's buffered fixes
        for dialect in ("exact", "prefix"):
            if "type" in item.get(dialect, {}):
                types.add(item[dialect]["type"])
    return types


def test_every_event_type_a_trigger_filters_on_is_a_contract(overlay) -> None:
    name, docs = overlay
    from udaconnect.contracts import events

    contract_types = set(events.EVENT_TYPES)
    assert events.LOCATION_REPORTED in contract_types
    for trigger in find(docs, "Trigger"):
        types = _filtered_types(trigger)
        assert types, f"{trigger['metadata']['name']} filters on no event type"
        assert types <= contract_types, f"{trigger['metadata']['name']}: {types - contract_types} not in contracts"


def test_the_broker_topic_is_where_ingest_publishes(overlay) -> None:
    # ingest publishes straight into the broker's topic (UDACONNECT_PUBLISHER=kafka); the Kafka broker reads
    # knative-broker-<namespace>-<name>: both must name the same topic on the same Kafka.
    name, docs = overlay
    config = config_env(docs)
    settings = Settings.from_env(config)
    eventing = load_documents(docs)
    broker = eventing.brokers[(settings.namespace, settings.broker)]
    assert broker.broker_class == "Kafka"
    assert broker.topic == settings.broker_topic
    assert broker.bootstrap_servers == settings.kafka_bootstrap_servers, name
    for sink in eventing.sinks.values():
        # the sink bootstraps from the list's first address (production's kustomization.yaml says why)
        assert list(sink.bootstrap_servers) == settings.kafka_bootstrap_servers.split(",")[:1], f"{name}: {sink.name}"
    assert broker.partitions >= 1 and broker.replication_factor >= 1, name


def test_in_cluster_kafka_matches_the_bootstrap_address_and_replication(rendered) -> None:
    docs = rendered["vagrant"]
    settings = Settings.from_env(config_env(docs))
    kafka = find(docs, "Kafka")[0]
    namespace, cluster = kafka["metadata"]["namespace"], kafka["metadata"]["name"]
    ports = {listener["port"] for listener in kafka["spec"]["kafka"]["listeners"] if not listener["tls"]}
    # Strimzi names the bootstrap Service <cluster>-kafka-bootstrap in the cluster's namespace.
    for address in settings.kafka_bootstrap_servers.split(","):
        host, port = address.rsplit(":", 1)
        assert host.split(".")[:2] == [f"{cluster}-kafka-bootstrap", namespace], address
        assert int(port) in ports, address
    brokers = sum(pool["spec"]["replicas"] for pool in find(docs, "KafkaNodePool")
                  if "broker" in pool["spec"]["roles"]
                  and pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster)
    eventing = load_documents(docs)
    for broker in eventing.brokers.values():
        assert broker.replication_factor <= brokers
    for sink in eventing.sinks.values():
        assert (sink.replication_factor or 1) <= brokers
    assert int(kafka["spec"]["kafka"]["config"]["default.replication.factor"]) <= brokers


def test_the_gateway_has_an_upstream_for_every_routed_target(overlay) -> None:
    name, docs = overlay
    config = config_env(docs)
    services = {s["metadata"]["name"]: s["metadata"]["namespace"] for s in knative_services(docs)}
    for target in {route.target for route in ROUTES}:
        url = config.get(f"UDACONNECT_UPSTREAM_{target.upper()}")
        assert url, f"{name}: no UDACONNECT_UPSTREAM_{target.upper()}"
        host = re.fullmatch(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local", url)
        assert host and services.get(host.group(1)) == host.group(2), f"{name}: {url} is no Knative Service"
    gateway = find(knative_services(docs), "Service", "gateway")[0]
    refs = [e["configMapRef"]["name"] for e in gateway["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            if "configMapRef" in e]
    assert "udaconnect-config" in refs


def test_env_references_resolve(overlay) -> None:
    # envFrom names an object in the render, and every $(VAR) in an env value is defined by it or before it.
    name, docs = overlay
    keys = {("ConfigMap", d["metadata"]["name"]): set(d.get("data", {})) for d in find(docs, "ConfigMap")}
    keys |= {("Secret", d["metadata"]["name"]): set(d.get("data", {})) | set(d.get("stringData", {}))
             for d in find(docs, "Secret")}
    for doc in docs:
        if "template" not in doc.get("spec", {}) or doc["kind"] == "Kafka":
            continue
        for container in containers(doc):
            who = f"{name}/{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            defined: set[str] = set()
            for source in container.get("envFrom", []):
                kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else \
                    ("Secret", source["secretRef"])
                assert (kind, ref["name"]) in keys, f"{who}: no {kind} {ref['name']}"
                defined |= keys[(kind, ref["name"])]
            for item in container.get("env", []):
                missing = set(VAR.findall(item.get("value", ""))) - defined
                assert not missing, f"{who}: {item['name']} uses undefined {missing}"
                defined.add(item["name"])
            for command in container.get("command", [])[2:3]:
                # sh -c scripts read env too: every $NAME they use must be defined.
                used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", command))
                assert used <= defined, f"{who}: the command uses undefined {used - defined}"


def test_ports_and_probes_match_what_the_image_serves(overlay) -> None:
    name, docs = overlay
    containerfile = (PROJECT_ROOT / "Containerfile").read_text()
    port = int(re.search(r"^EXPOSE (\d+)", containerfile, re.M).group(1))  # type: ignore[union-attr]
    assert re.search(rf"PORT={port}\b", containerfile)
    for ksvc in knative_services(docs):
        container = ksvc["spec"]["template"]["spec"]["containers"][0]
        assert [p["containerPort"] for p in container["ports"]] == [port], ksvc["metadata"]["name"]
        assert "PORT" not in env_of(container), "Knative sets PORT from containerPort"
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert (get["path"], get["port"]) == ("/health", port), f"{ksvc['metadata']['name']} {probe}"


def test_the_health_path_is_what_every_target_answers() -> None:
    # The probes' path is the convention every target follows: check it against a real target.
    from functions_framework import create_app

    client = create_app("web", str(PROJECT_ROOT / "functions" / "main.py")).test_client()
    reply = client.get("/health")
    assert reply.status_code == 200 and reply.get_json() == {"status": "ok"}
