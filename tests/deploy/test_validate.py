"""Rendered objects validate as a cluster would: core kinds by kubernetes-validate (strict), custom kinds by
their CRDs' schemas (made strict about unknown fields, as kubectl's field validation is), plus what the CRDs
leave to admission webhooks: ISO-8601 durations, filter dialects, autoscaling annotation values."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from tests.deploy.conftest import REFERENCE, Doc, containers, env_of, find, knative_services, pod_spec

from udaconnect.routes import TARGETS
from udaconnect.settings import PROJECT_ROOT
from udaconnect_dev.broker.filters import DIALECTS

KUBERNETES_VERSION = "1.34.0"
WORKLOADS = ("Service", "Deployment", "StatefulSet", "Job", "CronJob")
CRDS = REFERENCE / "crds"
#: Groups whose kinds are custom resources here (the rest are core kinds kubernetes-validate knows).
CUSTOM_GROUPS = {"serving.knative.dev", "eventing.knative.dev", "kafka.strimzi.io", "sources.knative.dev"}
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
FILTER_DIALECTS = set(DIALECTS)  # what the local broker obeys (it refuses cesql)
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def group(doc: Doc) -> str:
    return doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""


def test_core_kinds_validate_strictly(overlay) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    name, docs = overlay
    failures = []
    for doc in docs:
        if group(doc) in CUSTOM_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:  # type: ignore[attr-defined]
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {error}")
    assert failures == [], f"{name}: " + "\n".join(failures)


def _strict(schema: Any) -> Any:
    """The CRD's structural schema as JSON Schema that rejects unknown fields and knows int-or-string."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out = {"anyOf": [{"type": "integer"}, {"type": "string"}], **out}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    # Closed even where the CRD preserves unknown fields: there the listed properties are what Knative's
    # webhooks decode (strictly), and a misspelt field would otherwise be kept and silently ignored.
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    # The one field a CRD leaves to a feature flag that is on by default: DeliverySpec.timeout (Eventing's
    # beta "delivery-timeout"; deploy/vagrant/knative.sh also sets it explicitly). retryAfterMax stays
    # unknown: its flag is alpha and off.
    if {"backoffDelay", "deadLetterSink"} <= set(out.get("properties", {})):
        out["properties"]["timeout"] = {"type": "string"}
    return out


@cache
def crd_schemas() -> dict[tuple[str, str, str], Any]:
    """(group, version, kind) -> strict JSON Schema, from every CRD under shared/reference/crds/."""
    schemas = {}
    for path in CRDS.rglob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                schema.setdefault("properties", {}).pop("metadata", None)
                schema["additionalProperties"] = True
                schemas[(crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"])] = schema
    return schemas


def test_custom_kinds_validate_against_their_crds(overlay) -> None:
    if not CRDS.is_dir():
        pytest.skip(f"no CRD schemas at {CRDS} (the shared reference is not beside this checkout)")
    name, docs = overlay
    failures = []
    for doc in docs:
        if group(doc) not in CUSTOM_GROUPS:
            continue
        key = (group(doc), doc["apiVersion"].split("/")[1], doc["kind"])
        schema = crd_schemas().get(key)
        if schema is None:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: no CRD for {key}")
            continue
        for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
            failures.append(f"{doc['kind']}/{doc['metadata']['name']} at {list(error.absolute_path)}: {error.message}")
    assert failures == [], f"{name}:\n" + "\n".join(failures)


def test_the_strict_crd_check_rejects_an_unknown_field() -> None:
    if not CRDS.is_dir():
        pytest.skip(f"no CRD schemas at {CRDS}")
    schema = crd_schemas()[("eventing.knative.dev", "v1", "Trigger")]
    doc = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
           "spec": {"broker": "default", "subscriber": {"uri": "http://x"}, "filtre": {}}}
    assert not jsonschema.Draft7Validator(schema).is_valid(doc)


def _deliveries(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d["spec"]["delivery"])
            for d in docs if d["kind"] in ("Broker", "Trigger") and "delivery" in d.get("spec", {})]


def test_delivery_durations_are_iso_8601_and_dead_letters_go_somewhere_real(overlay) -> None:
    name, docs = overlay
    assert _deliveries(docs), f"{name}: no delivery spec at all (events would be dropped on failure)"
    for owner, delivery in _deliveries(docs):
        for key in ("backoffDelay", "timeout", "retryAfterMax"):
            if key in delivery:
                assert ISO_DURATION.match(delivery[key]), f"{owner}: {key}={delivery[key]!r} is not ISO-8601"
        assert delivery.get("backoffPolicy", "exponential") in ("linear", "exponential"), owner
        assert isinstance(delivery.get("retry", 0), int) and delivery.get("retry", 0) >= 0, owner
        ref = delivery.get("deadLetterSink", {}).get("ref")
        if ref:
            assert find(docs, ref["kind"], ref["name"]), f"{owner}: dead-letter sink {ref} is not in the manifests"


def _dialects(filters: list[Doc]) -> list[str]:
    out = []
    for item in filters:
        for dialect, value in item.items():
            out.append(dialect)
            if dialect in ("all", "any"):
                out += _dialects(value)
            elif dialect == "not":
                out += _dialects([value])
    return out


def test_trigger_filters_use_known_dialects(overlay) -> None:
    name, docs = overlay
    for trigger in find(docs, "Trigger"):
        filters = trigger["spec"].get("filters", [])
        unknown = set(_dialects(filters)) - FILTER_DIALECTS
        assert unknown == set(), f"{trigger['metadata']['name']}: unknown filter dialects {unknown}"
        for item in filters:
            for dialect in ("exact", "prefix", "suffix"):
                if dialect in item:
                    assert item[dialect] and all(isinstance(v, str) and v for v in item[dialect].values())


def test_autoscaling_annotations_are_valid(overlay) -> None:
    name, docs = overlay
    for ksvc in knative_services(docs):
        who = f"{name}/{ksvc['metadata']['name']}"
        notes = {k.split("/", 1)[1]: v for k, v in ksvc["spec"]["template"]["metadata"].get("annotations", {}).items()
                 if k.startswith("autoscaling.knative.dev/")}
        known = {"min-scale", "max-scale", "initial-scale", "target", "metric", "target-utilization-percentage",
                 "scale-down-delay", "scale-to-zero-pod-retention-period", "window", "panic-window-percentage",
                 "panic-threshold-percentage", "class", "activation-scale", "target-burst-capacity"}
        assert set(notes) <= known, f"{who}: unknown annotations {set(notes) - known}"
        assert all(isinstance(v, str) for v in notes.values()), f"{who}: annotation values must be strings"
        low, high = int(notes.get("min-scale", "0")), int(notes.get("max-scale", "0"))
        assert low >= 0 and high >= 0 and (high == 0 or low <= high), who
        assert notes.get("metric", "concurrency") in ("concurrency", "rps"), who
        assert notes.get("class", "kpa.autoscaling.knative.dev") == "kpa.autoscaling.knative.dev" or low > 0, \
            f"{who}: only the KPA can scale to zero"
        if "target" in notes:
            assert float(notes["target"]) > 0, who
        for key in ("scale-down-delay", "scale-to-zero-pod-retention-period", "window"):
            if key in notes:
                assert GO_DURATION.match(notes[key]), f"{who}: {key}={notes[key]!r}"
        spec = ksvc["spec"]["template"]["spec"]
        limit = spec.get("containerConcurrency", 0)
        assert 0 <= limit <= 1000, who
        if limit and notes.get("metric", "concurrency") == "concurrency" and "target" in notes:
            assert float(notes["target"]) <= limit, f"{who}: the soft target exceeds containerConcurrency"
        assert 0 < spec.get("timeoutSeconds", 300) <= 600, who


def asgi_targets() -> set[str]:
    """The targets functions/main.py declares as functions_framework.aio functions (served by uvicorn)."""
    from functions_framework import _function_registry

    spec = importlib.util.spec_from_file_location("udaconnect_targets", PROJECT_ROOT / "functions" / "main.py")
    assert spec and spec.loader
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return set(_function_registry.ASGI_FUNCTIONS) & set(TARGETS)


def test_gunicorn_threads_admit_every_request_knative_lets_in(overlay) -> None:
    # functions-framework's gunicorn serves THREADS requests at once; fewer threads than containerConcurrency
    # would queue requests inside the pod, hidden from the autoscaler. ASGI targets have no threads to set.
    name, docs = overlay
    asgi = asgi_targets()
    assert {"ingest", "persist"} <= asgi
    for ksvc in knative_services(docs):
        limit = ksvc["spec"]["template"]["spec"].get("containerConcurrency", 0)
        env = env_of(ksvc["spec"]["template"]["spec"]["containers"][0])
        who = f"{name}/{ksvc['metadata']['name']}"
        if env["FUNCTION_TARGET"] in asgi:
            assert "THREADS" not in env, f"{who}: an ASGI target, THREADS would mislead"
        else:
            assert int(env["THREADS"]) >= limit, f"{who}: THREADS={env['THREADS']} < {limit}"


def test_persist_admits_enough_concurrency_for_group_commit(overlay) -> None:
    name, docs = overlay
    persist = find(knative_services(docs), "Service", "persist")[0]["spec"]["template"]
    limit = persist["spec"]["containerConcurrency"]
    assert limit == 0 or limit >= 50, f"{name}: persist lets only {limit} deliveries in at once"


def test_workloads_have_probes_resources_and_a_locked_down_security_context(overlay) -> None:
    name, docs = overlay
    for doc in docs:
        if doc["kind"] not in WORKLOADS or not ("template" in doc["spec"] or "jobTemplate" in doc["spec"]):
            continue
        pod = pod_spec(doc)
        for container in containers(doc):
            who = f"{name}/{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            assert resources.get("requests") and resources.get("limits", {}).get("memory"), who
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, who
            assert context.get("capabilities", {}).get("drop") == ["ALL"], who
            assert context.get("readOnlyRootFilesystem") is True, who
            non_root = context.get("runAsNonRoot", pod.get("securityContext", {}).get("runAsNonRoot"))
            assert non_root is True, who
            seccomp = context.get("seccompProfile", pod.get("securityContext", {}).get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", who
            if doc["kind"] not in ("Job", "CronJob") and container not in pod.get("initContainers", []):
                assert container.get("readinessProbe") and container.get("livenessProbe"), who
