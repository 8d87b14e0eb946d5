"""The production overlay's admission policy (manifests/overlays/production/auth-guard.yaml) evaluated: its CEL
expressions run in a real CEL evaluator (cel-python) against the objects the API server would be asked to admit,
every way a container can come to hold UDACONNECT_AUTH, and against every pod the rendered overlay makes."""

from __future__ import annotations

import base64
import copy
from typing import Any

import celpy
import pytest
from tests.deploy.conftest import Doc, find

Obj = dict[str, Any]


def _policy(rendered: dict[str, list[Doc]]) -> Doc:
    (policy,) = find(rendered["production"], "ValidatingAdmissionPolicy", "udaconnect-auth-never-open")
    return policy


def _to_cel(obj: Obj) -> Any:
    """The object as the API server hands it to CEL: a Secret's data are bytes (base64 in JSON)."""
    value = celpy.json_to_cel(obj)
    if obj.get("kind") == "Secret" and "data" in obj:
        value[celpy.celtypes.StringType("data")] = celpy.celtypes.MapType({
            celpy.celtypes.StringType(k): celpy.celtypes.BytesType(base64.b64decode(v))
            for k, v in obj["data"].items()})
    return value


def refusals(policy: Doc, obj: Obj) -> list[str]:
    """The messages of the policy's validations that `obj` fails (empty: admitted); an expression that errors
    counts as a refusal, as failurePolicy Fail makes it."""
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    resource = {"Pod": "pods", "ConfigMap": "configmaps", "Secret": "secrets"}.get(obj["kind"])
    if not any(resource in rule["resources"] for rule in rules):
        return []  # not sent to this policy at all
    env = celpy.Environment()
    activation = {"object": _to_cel(obj)}
    refused = []
    for validation in policy["spec"]["validations"]:
        result = env.program(env.compile(validation["expression"])).evaluate(activation)
        if result is not True and result != celpy.celtypes.BoolType(True):
            refused.append(validation["message"])
    return refused


def pod(*containers: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "udaconnect"},
            "spec": {"containers": [{"name": f"c{i}", "image": "udaconnect", **c} for i, c in enumerate(containers)]}}


def pod_of(workload: Doc) -> Obj:
    """The Pod a Deployment, Job or Knative Service (through its Revision's Deployment) asks the API server for."""
    spec = workload["spec"]
    template = spec.get("jobTemplate", {}).get("spec", spec)["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": template.get("metadata", {}),
            "spec": copy.deepcopy(template["spec"])}


def config_map(data: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": data}


def secret(data: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


#: Each way a container can come to run with UDACONNECT_AUTH, and whether admission must let it through.
CASES: dict[str, tuple[Obj, bool]] = {
    "plain env on": (pod({"env": [{"name": "UDACONNECT_AUTH", "value": "on"}]}), True),
    "plain env open": (pod({"env": [{"name": "UDACONNECT_AUTH", "value": "open"}]}), False),
    "plain env empty": (pod({"env": [{"name": "UDACONNECT_AUTH", "value": ""}]}), False),
    "open in a second container": (pod({}, {"env": [{"name": "UDACONNECT_AUTH", "value": "open"}]}), False),
    "other env only": (pod({"env": [{"name": "UDACONNECT_LOG_LEVEL", "value": "DEBUG"}]}), True),
    "config map key ref": (pod({"env": [{"name": "UDACONNECT_AUTH", "valueFrom": {
        "configMapKeyRef": {"name": "elsewhere", "key": "mode"}}}]}), False),
    "secret key ref": (pod({"env": [{"name": "UDACONNECT_AUTH", "valueFrom": {
        "secretKeyRef": {"name": "elsewhere", "key": "mode"}}}]}), False),
    "field ref": (pod({"env": [{"name": "UDACONNECT_AUTH", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.annotations['auth']"}}}]}), False),
    "envFrom a config map": (pod({"envFrom": [{"configMapRef": {"name": "udaconnect-config"}}]}), True),
    "envFrom a secret": (pod({"envFrom": [{"secretRef": {"name": "udaconnect-db"}}]}), True),
    # the known bypass: a ConfigMap {AUTH: open}, admitted (no UDACONNECT_AUTH key), read with a prefix
    "envFrom a config map with prefix UDACONNECT_": (pod({"envFrom": [
        {"prefix": "UDACONNECT_", "configMapRef": {"name": "innocent"}}]}), False),
    "envFrom a secret with prefix UDACONNECT_AU": (pod({"envFrom": [
        {"prefix": "UDACONNECT_AU", "secretRef": {"name": "innocent"}}]}), False),
    "envFrom with prefix U": (pod({"envFrom": [{"prefix": "U", "configMapRef": {"name": "innocent"}}]}), False),
    "config map on": (config_map({"UDACONNECT_AUTH": "on"}), True),
    "config map open": (config_map({"UDACONNECT_AUTH": "open"}), False),
    "config map without it": (config_map({"UDACONNECT_LOG_LEVEL": "INFO"}), True),
    "secret on": (secret({"UDACONNECT_AUTH": "on"}), True),
    "secret open": (secret({"UDACONNECT_AUTH": "open"}), False),
    "secret without it": (secret({"password": "x"}), True),
}


@pytest.mark.parametrize("name", CASES)
def test_admission_refuses_every_way_to_auth_open(rendered: dict[str, list[Doc]], name: str) -> None:
    obj, admitted = CASES[name]
    refused = refusals(_policy(rendered), obj)
    assert (not refused) is admitted, f"{name}: {refused or 'admitted'}"


def test_every_pod_the_production_overlay_makes_is_admitted(rendered: dict[str, list[Doc]]) -> None:
    """Its Knative Services, Deployments, StatefulSets and Jobs (envFrom without a prefix, UDACONNECT_AUTH from
    the ConfigMap) pass the policy, and so does the ConfigMap that sets it."""
    policy = _policy(rendered)
    workloads = [d for d in rendered["production"] if d["kind"] in (
        "Service", "Deployment", "StatefulSet", "Job", "CronJob") and "template" in str(d.get("spec", {}))]
    assert len(workloads) >= 8
    for workload in workloads:
        assert refusals(policy, pod_of(workload)) == [], workload["metadata"]["name"]
    for doc in find(rendered["production"], "ConfigMap") + find(rendered["production"], "Secret"):
        assert refusals(policy, doc) == [], doc["metadata"]["name"]
    configured = [d for d in find(rendered["production"], "ConfigMap") if "UDACONNECT_AUTH" in d.get("data", {})]
    assert configured and refusals(policy, {**configured[0], "data": {"UDACONNECT_AUTH": "open"}})
