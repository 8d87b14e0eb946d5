"""func.yaml validates against func's schema and says what the manifests say about the same function."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from tests.deploy.conftest import REFERENCE, find, knative_services

from udaconnect.routes import TARGETS
from udaconnect.settings import PROJECT_ROOT

SCHEMA = REFERENCE / "func_yaml-schema.json"


class _NoTimestamps(yaml.SafeLoader):
    """YAML as func reads it for validation: `created` stays the string it is in the file."""


_NoTimestamps.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def func_yaml() -> dict:
    return yaml.load((PROJECT_ROOT / "func.yaml").read_text(), Loader=_NoTimestamps)  # noqa: S506


def test_func_yaml_validates_against_the_official_schema(func_yaml) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"func's schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(func_yaml)]
    assert errors == []
    # The schema is closed: a misspelt key must fail, or this test proves nothing.
    assert not validator.is_valid({**func_yaml, "deploy": {**func_yaml["deploy"], "scaling": {}}})


def test_the_spec_version_is_one_func_knows(func_yaml) -> None:
    version = tuple(int(part) for part in func_yaml["specVersion"].split("."))
    assert version <= (0, 36, 0)


def test_func_yaml_describes_a_real_target_as_the_manifests_deploy_it(func_yaml, rendered) -> None:
    envs = {e.get("name"): e["value"] for e in func_yaml["run"]["envs"]}
    target = envs["FUNCTION_TARGET"]
    assert target == func_yaml["name"] and target in TARGETS
    docs = rendered["vagrant"]
    ksvc = find(knative_services(docs), "Service", target)[0]["spec"]["template"]
    notes = ksvc["metadata"]["annotations"]
    scale = func_yaml["deploy"]["options"]["scale"]
    assert str(scale["min"]) == notes["autoscaling.knative.dev/min-scale"]
    assert str(scale["max"]) == notes["autoscaling.knative.dev/max-scale"]
    assert scale["metric"] == notes["autoscaling.knative.dev/metric"]
    assert float(scale["target"]) == float(notes["autoscaling.knative.dev/target"])
    limits = func_yaml["deploy"]["options"]["resources"]["limits"]
    assert limits["concurrency"] == ksvc["spec"]["containerConcurrency"]
    assert "THREADS" not in envs, "persist is an ASGI function: gunicorn's THREADS does not apply"
    container = ksvc["spec"]["containers"][0]
    assert func_yaml["deploy"]["image"] == container["image"]
    manifest_env = {e["name"]: e.get("value") for e in container["env"]}
    assert envs["DATABASE_URL"] == manifest_env["DATABASE_URL"]
    health = func_yaml["deploy"]["healthEndpoints"]
    assert health == {"liveness": container["livenessProbe"]["httpGet"]["path"],
                      "readiness": container["readinessProbe"]["httpGet"]["path"]}


def test_func_yaml_env_references_exist_in_the_manifests(func_yaml, rendered) -> None:
    docs = rendered["vagrant"]
    for env in func_yaml["run"]["envs"]:
        value = env["value"].strip()
        if not value.startswith("{{"):
            continue
        kind, _, ref = value.strip("{} ").partition(":")
        name, _, key = ref.partition(":")
        objects = find(docs, {"secret": "Secret", "configMap": "ConfigMap"}[kind], name)
        assert objects, f"{value}: no {kind} {name}"
        if key:
            assert key in objects[0]["data"], f"{value}: no key {key}"


def test_func_subscriptions_match_the_eventing_trigger(func_yaml, rendered) -> None:
    docs = rendered["vagrant"]
    subscriptions = func_yaml["deploy"]["subscriptions"]
    triggers = [t for t in find(docs, "Trigger")
                if t["spec"]["subscriber"]["ref"]["name"] == func_yaml["name"]]
    assert triggers
    # func's subscriptions filter on exact attributes only: a Trigger's `any` of exact filters is one each
    wanted = sorted((trigger["spec"]["broker"], tuple(sorted(exact.items())))
                    for trigger in triggers for f in trigger["spec"]["filters"]
                    for exact in ([f["exact"]] if "exact" in f else [a["exact"] for a in f.get("any", [])]))
    assert sorted((s["source"], tuple(sorted(s["filters"].items()))) for s in subscriptions) == wanted


def test_func_yaml_gives_tmp_the_volume_the_manifests_give_it(func_yaml, rendered) -> None:
    # func's update path replaces the Service's volumes with func.yaml's but keeps the container's security
    # context (read-only root): every writable mount the manifests give persist must be in func.yaml too.
    ksvc = find(knative_services(rendered["vagrant"]), "Service", func_yaml["name"])[0]["spec"]["template"]["spec"]
    assert ksvc["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in ksvc["volumes"]}
    # ... and every Secret it mounts (the delivery key), or func's update would take it away
    def source(volume: dict) -> object:
        return volume["secret"]["secretName"] if "secret" in volume else volume["emptyDir"]

    wanted = {m["mountPath"]: source(volumes[m["name"]]) for m in ksvc["containers"][0]["volumeMounts"]}
    declared = {v["path"]: v.get("secret") or v.get("emptyDir") for v in func_yaml["run"].get("volumes", [])}
    assert "/tmp" in wanted and declared == wanted


def test_func_yaml_keeps_the_labels_the_manifests_set(func_yaml, rendered) -> None:
    # func replaces the Service's labels with func.yaml's: cluster-local visibility must be among them.
    ksvc = find(knative_services(rendered["vagrant"]), "Service", func_yaml["name"])[0]
    labels = {label["key"]: label.get("value", "") for label in func_yaml["deploy"]["labels"]}
    assert labels.get("networking.knative.dev/visibility") == "cluster-local"
    assert ksvc["metadata"]["labels"].items() <= labels.items()


def test_func_yaml_scales_as_the_manifests_do(func_yaml, rendered) -> None:
    notes = find(knative_services(rendered["vagrant"]), "Service", func_yaml["name"])[0]["spec"]["template"][
        "metadata"]["annotations"]
    utilization = notes.get("autoscaling.knative.dev/target-utilization-percentage", "70")
    assert float(func_yaml["deploy"]["options"]["scale"].get("utilization", 70)) == float(utilization)



def test_func_deploy_keeps_every_autoscaling_annotation_of_the_manifests(func_yaml, rendered) -> None:
    # func writes min-scale, max-scale, metric, target and target-utilization-percentage from deploy.options.scale
    # and copies deploy.annotations onto the revision template: together they must give the manifests' set.
    notes = find(knative_services(rendered["vagrant"]), "Service", func_yaml["name"])[0]["spec"]["template"][
        "metadata"]["annotations"]
    scale = func_yaml["deploy"]["options"]["scale"]
    from_options = {"min-scale": scale.get("min"), "max-scale": scale.get("max"), "metric": scale.get("metric"),
                    "target": scale.get("target"), "target-utilization-percentage": scale.get("utilization")}
    given = {f"autoscaling.knative.dev/{k}": str(v) for k, v in from_options.items() if v is not None}
    given.update(func_yaml["deploy"].get("annotations", {}))
    wanted = {k: v for k, v in notes.items() if k.startswith("autoscaling.knative.dev/")}
    assert {k: given.get(k) for k in wanted} == wanted
