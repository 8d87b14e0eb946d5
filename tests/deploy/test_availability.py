"""Production keeps serving through a node drain: every workload with more than one pod has a disruption budget
and spreads over nodes (Knative admits the spread only with its feature flag)."""

from __future__ import annotations

from deploy.conftest import Doc, find, knative_services, pod_spec


def _replicated(docs: list[Doc]) -> dict[str, Doc]:
    """name -> workload, for the Deployments and Knative Services that keep two or more pods."""
    out = {d["metadata"]["name"]: d for d in find(docs, "Deployment") if d["spec"].get("replicas", 1) > 1}
    for service in knative_services(docs):
        annotations = service["spec"]["template"]["metadata"].get("annotations", {})
        if int(annotations.get("autoscaling.knative.dev/min-scale", "0")) > 1:
            out[service["metadata"]["name"]] = service
    return out


def test_production_budgets_every_replicated_workload(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["production"]
    replicated = _replicated(docs)
    assert {"edge", "gateway", "ingest", "persist"} <= set(replicated)
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: b
               for b in find(docs, "PodDisruptionBudget")}
    for name, workload in replicated.items():
        assert name in budgets, f"{name} runs several pods and has no PodDisruptionBudget"
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == name
        assert budgets[name]["spec"].get("maxUnavailable") == 1


def test_production_spreads_every_replicated_workload_over_nodes(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["production"]
    for name, workload in _replicated(docs).items():
        spread = pod_spec(workload).get("topologySpreadConstraints", [])
        assert any(c["topologyKey"] == "kubernetes.io/hostname" and c["whenUnsatisfiable"] == "ScheduleAnyway"
                   for c in spread), name
        for constraint in spread:
            keys = set(constraint.get("matchLabelKeys", []))
            selected = constraint["labelSelector"].get("matchLabels", {})
            # the constraint counts this workload's own pods, not every pod of the namespace
            assert selected.get("app.kubernetes.io/name") == name or "app.kubernetes.io/name" in keys, name
    features = find(docs, "ConfigMap", "config-features")
    assert features and features[0]["metadata"]["namespace"] == "knative-serving"
    assert features[0]["data"]["kubernetes.podspec-topologyspreadconstraints"] == "enabled"


def test_production_pulls_from_its_private_registry_with_the_operators_secret(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["production"]
    accounts = find(docs, "ServiceAccount", "default")
    assert accounts and accounts[0]["metadata"]["namespace"] == "udaconnect"
    secret = accounts[0]["imagePullSecrets"][0]["name"]
    assert find(docs, "Secret", secret) == []  # credentials: made by the operator, never rendered
    workloads = (knative_services(docs) + find(docs, "Deployment") + find(docs, "Job") + find(docs, "CronJob"))
    for workload in workloads:
        if workload["metadata"]["namespace"] == "udaconnect":
            # the pull secret reaches a pod through the ServiceAccount it runs as
            assert pod_spec(workload).get("serviceAccountName", "default") == "default", workload["metadata"]["name"]
