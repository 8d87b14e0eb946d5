"""Platform hardening in the rendered overlays: network policies, one database role per function, TLS at the edge,
Kafka's in-sync replicas, and a production that can never run with UDACONNECT_AUTH=open."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import Doc, find, render

from udaconnect.storage.roles import ROLES

DB_FUNCTIONS = {"persons": "persons", "connections": "connections", "persist": "persist", "encounters": "encounters"}


def _policy(docs: list[Doc], name: str) -> Doc:
    found = find(docs, "NetworkPolicy", name)
    assert found, f"no NetworkPolicy {name}"
    return found[0]


def _containers(doc: Doc) -> list[dict[str, Any]]:
    spec = doc["spec"]
    template = spec.get("jobTemplate", {}).get("spec", spec)["template"]["spec"]
    return list(template.get("initContainers", [])) + list(template["containers"])


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_the_namespace_denies_every_connection_no_policy_allows(overlay) -> None:
    _, docs = overlay
    deny = _policy(docs, "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {} and deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]


def test_function_pods_accept_knatives_data_plane_alone(overlay) -> None:
    _, docs = overlay
    policy = _policy(docs, "functions-from-knative")["spec"]
    assert policy["podSelector"]["matchExpressions"] == [{"key": "serving.knative.dev/service", "operator": "Exists"}]
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in policy["ingress"] for peer in rule["from"]}
    assert sources == {"kourier-system", "knative-serving"}
    for rule in policy["ingress"]:
        assert all(set(peer) == {"namespaceSelector"} for peer in rule["from"])  # no ipBlock, no other pods


def test_only_the_database_roles_holders_reach_postgis_and_only_functions_and_the_broker_reach_kafka(rendered) -> None:
    """The in-cluster data services (vagrant); production's are external and guarded by their own firewalls."""
    assert not find(rendered["production"], "NetworkPolicy", "postgis-from-functions")
    assert not [d for d in rendered["production"] if d["metadata"].get("namespace") == "kafka"]
    docs = rendered["vagrant"]
    postgis = _policy(docs, "postgis-from-functions")["spec"]
    allowed = set(postgis["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"])
    assert allowed == set(DB_FUNCTIONS) | {"retention", "udaconnect-migrate", "udaconnect-outbox-relay"}
    assert "ingest" not in allowed and "gateway" not in allowed and "edge" not in allowed
    assert postgis["ingress"][0]["ports"] == [{"port": 5432}]
    kafka = _policy(docs, "kafka-from-functions-and-broker")
    assert kafka["metadata"]["namespace"] == "kafka"
    peers = kafka["spec"]["ingress"][0]["from"]
    namespaces = {p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                  for p in peers}
    assert namespaces == {None, "knative-eventing", "udaconnect"}
    ours = next(p for p in peers if p.get("namespaceSelector", {}).get("matchLabels", {}).get(
        "kubernetes.io/metadata.name") == "udaconnect")
    assert "gateway" not in ours["podSelector"]["matchExpressions"][0]["values"]


def test_each_function_connects_as_its_own_role_and_only_the_migration_holds_the_owner(overlay) -> None:
    _, docs = overlay
    for name, role in DB_FUNCTIONS.items():
        ksvc = find(docs, "Service", name, api_group="serving.knative.dev")[0]
        (container,) = _containers(ksvc)
        env = _env(container)
        assert env["DATABASE_URL"]["value"].startswith(f"postgresql://udaconnect_{role}:$(DATABASE_PASSWORD)@")
        assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "udaconnect-db-roles", "key": role}
        assert role in ROLES
    relay = find(docs, "CronJob", "udaconnect-outbox-relay")[0]
    assert _env(_containers(relay)[0])["DATABASE_URL"]["value"].startswith("postgresql://udaconnect_relay:")
    # ingest: no database credentials at all
    (ingest,) = _containers(find(docs, "Service", "ingest", api_group="serving.knative.dev")[0])
    assert "DATABASE_URL" not in _env(ingest) and not any("secretRef" in s for s in ingest.get("envFrom", []))
    # the owner's Secret as a whole (its POSTGRES_USER and POSTGRES_PASSWORD) only in the migration and PostGIS
    holders = set()
    for doc in docs:
        if doc["kind"] in ("Service", "CronJob", "Job", "Deployment", "StatefulSet") and "spec" in doc and (
                "template" in doc["spec"] or "jobTemplate" in doc["spec"]):
            for container in _containers(doc):
                refs = [s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s]
                refs += [e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", [])
                         if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "udaconnect-db"]
                if "udaconnect-db" in refs or "POSTGRES_PASSWORD" in refs:
                    holders.add(doc["metadata"]["name"])
    assert {h for h in holders if not h.startswith("udaconnect-migrate")} <= {"postgis"}, holders


#: Every workload that connects to the database, written by hand: each must verify production's database server.
DB_CLIENTS = {("Service", "persons"), ("Service", "connections"), ("Service", "persist"), ("Service", "retention"),
              ("Service", "encounters"), ("CronJob", "udaconnect-outbox-relay"), ("Job", "udaconnect-migrate")}


def _config(docs: list[Doc]) -> dict[str, str]:
    return find(docs, "ConfigMap", "udaconnect-config")[0]["data"]


def test_production_verifies_the_database_server_with_a_ca_from_a_secret(rendered) -> None:
    """Issue 22: `sslmode=require` encrypts but believes any server; production connects with verify-full, the CA
    from the Secret udaconnect-db-ca mounted where PGSSLROOTCERT (libpq's own variable) says, in every pod that
    connects, and in no other."""
    docs = rendered["production"]
    config = _config(docs)
    assert config["DATABASE_SSLMODE"] == "verify-full"
    assert config["PGSSLROOTCERT"] == "/etc/udaconnect/db-ca/ca.crt"
    ca = find(docs, "Secret", "udaconnect-db-ca")[0]
    assert set(ca["data"]) == {"ca.crt"}
    mounting = set()
    for doc in docs:
        if doc["kind"] not in ("Service", "CronJob", "Job", "Deployment") or "spec" not in doc or not (
                "template" in doc["spec"] or "jobTemplate" in doc["spec"]):
            continue
        spec = doc["spec"].get("jobTemplate", {}).get("spec", doc["spec"])["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(doc):
            url = _env(container).get("DATABASE_URL", {}).get("value", "")
            mounts = [m for m in container.get("volumeMounts", [])
                      if volumes.get(m["name"], {}).get("secret", {}).get("secretName") == "udaconnect-db-ca"]
            if url:
                assert url.endswith("?sslmode=$(DATABASE_SSLMODE)"), (doc["metadata"]["name"], url)
            if mounts:
                assert mounts == [{"name": "db-ca", "mountPath": "/etc/udaconnect/db-ca", "readOnly": True}]
                mounting.add((doc["kind"], doc["metadata"]["name"]))
            assert bool(url) == bool(mounts), (doc["metadata"]["name"], "a database client without the CA, or "
                                               "the CA where nothing connects")
    migrate = {(kind, name.rsplit("-", 1)[0] if kind == "Job" else name) for kind, name in mounting}
    assert migrate == DB_CLIENTS
    # vagrant's PostGIS is in the cluster, behind its NetworkPolicy, without TLS
    assert _config(rendered["vagrant"])["DATABASE_SSLMODE"] == "disable"
    assert not find(rendered["vagrant"], "Secret", "udaconnect-db-ca")


def test_the_migration_job_grants_the_roles_after_the_schema(overlay) -> None:
    _, docs = overlay
    (job,) = find(docs, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    command = " ".join(container["command"])
    assert command.index("udaconnect db upgrade") < command.index("udaconnect.storage.roles --passwords "
                                                                  "/etc/udaconnect/db-roles")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert mounts["db-roles"] == "/etc/udaconnect/db-roles"
    assert volumes["db-roles"]["secret"]["secretName"] == "udaconnect-db-roles"
    secret = find(docs, "Secret", "udaconnect-db-roles")[0]
    assert set(secret["data"]) == set(ROLES)  # one password per role, from the git-ignored roles.env


def test_production_terminates_tls_at_the_edge_redirects_http_and_sends_hsts(rendered) -> None:
    docs = rendered["production"]
    conf = find(docs, "ConfigMap", "edge-nginx")[0]["data"]["nginx.conf"]
    assert "listen 8443 ssl;" in conf and "listen 8081 ssl;" in conf
    assert "return 308 https://$host$request_uri;" in conf
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    edge = find(docs, "Deployment", "edge")[0]["spec"]["template"]["spec"]
    assert {"name": "tls", "secret": {"secretName": "udaconnect-edge-tls"}} in edge["volumes"]
    ports = {p["name"]: p["port"] for p in find(docs, "Service", "edge", api_group="v1")[0]["spec"]["ports"]}
    assert ports == {"https": 443, "web": 80, "api": 8081}


def test_production_kafka_topics_need_two_in_sync_replicas_of_three(rendered) -> None:
    config = find(rendered["production"], "ConfigMap", "kafka-broker-config")[0]["data"]
    assert config["default.topic.replication.factor"] == "3"
    assert config["default.topic.config.min.insync.replicas"] == "2"


def _auth_values(docs: list[Doc]) -> list[tuple[str, str]]:
    """Every value UDACONNECT_AUTH is given anywhere in `docs`: ConfigMap data, container env, func-style envs."""
    found = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("name") == "UDACONNECT_AUTH":
                found.append((where, str(node.get("value", "<valueFrom>"))))
            for key, value in node.items():
                if key == "UDACONNECT_AUTH":
                    found.append((where, str(value)))
                walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for doc in docs:
        walk(doc, f"{doc['kind']}/{doc['metadata']['name']}")
    return found


def test_production_never_sets_auth_open(rendered) -> None:
    values = _auth_values(rendered["production"])
    assert values, "production says UDACONNECT_AUTH=on explicitly"
    assert all(value == "on" for _, value in values), values


def test_production_refuses_auth_open_at_admission(rendered) -> None:
    docs = rendered["production"]
    (policy,) = find(docs, "ValidatingAdmissionPolicy", "udaconnect-auth-never-open")
    (binding,) = find(docs, "ValidatingAdmissionPolicyBinding", "udaconnect-auth-never-open")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"] and policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "udaconnect"}
    rules = policy["spec"]["matchConstraints"]["resourceRules"][0]
    assert {"configmaps", "secrets", "pods"} <= set(rules["resources"])
    assert set(rules["operations"]) >= {"CREATE", "UPDATE"}
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert expressions.count("'on'") == 3


@pytest.mark.parametrize("where", ["configmap", "literal"])
def test_the_check_fails_when_someone_adds_auth_open_to_production(kubectl: str, workspace: Path, tmp_path: Path,
                                                                  where: str) -> None:
    """The tests above are not vacuous: a production overlay that sets it open renders values they refuse."""
    import shutil

    copy_root = tmp_path / "copy"
    shutil.copytree(workspace, copy_root)
    overlay = copy_root / "manifests" / "overlays" / "production"
    kustomization = overlay / "kustomization.yaml"
    if where == "configmap":
        kustomization.write_text(kustomization.read_text().replace("UDACONNECT_AUTH=on", "UDACONNECT_AUTH=open"))
    else:
        kustomization.write_text(kustomization.read_text() + """
  - target: {group: serving.knative.dev, kind: Service, name: persons}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: UDACONNECT_AUTH, value: open}
""")
    docs = render(kubectl, overlay)
    assert any(value != "on" for _, value in _auth_values(copy.deepcopy(docs)))


#: Which workload may hold which token credential, written out by hand: the issuer (persons) alone the private key;
#: the public JWKS every function that checks tokens; ingest alone its revocation-feed credential. Nothing else.
#: The delivery key (udaconnect.events.proof) the two ends of a location report alone: ingest, persist.
TOKEN_SECRETS = {
    "persons": {"udaconnect-auth-signing", "udaconnect-auth-jwks"},
    "connections": {"udaconnect-auth-jwks"},
    "encounters": {"udaconnect-auth-jwks"},
    "ingest": {"udaconnect-auth-jwks", "udaconnect-ingest-credential", "udaconnect-delivery-key"},
    "persist": {"udaconnect-delivery-key"},
}
#: The file each of those Secrets is read from, by the setting that names it.
TOKEN_FILES = {
    "udaconnect-auth-signing": ("UDACONNECT_AUTH_SIGNING_KEY_FILE", "signing-key.pem"),
    "udaconnect-auth-jwks": ("UDACONNECT_AUTH_JWKS_FILE", "jwks.json"),
    "udaconnect-ingest-credential": ("UDACONNECT_REVOCATIONS_TOKEN_FILE", "revocations-token"),
    "udaconnect-delivery-key": ("UDACONNECT_DELIVERY_KEY_FILE", "delivery-key"),
}
WORKLOADS = ("Service", "Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet")


def _pod(doc: Doc) -> dict[str, Any]:
    spec = doc["spec"]
    return dict(spec.get("jobTemplate", {}).get("spec", spec)["template"]["spec"])


def _secrets_held(doc: Doc) -> set[str]:
    """Every Secret a workload's pod can read: volumes (also projected), env valueFrom and envFrom."""
    pod = _pod(doc)
    held = set()
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            held.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                held.add(source["secret"]["name"])
    for container in _containers(doc):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                held.add(ref["name"])
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                held.add(source["secretRef"]["name"])
    return held


def test_only_the_issuer_holds_the_signing_key_and_every_verifier_only_the_public_keys(rendered) -> None:
    for name in ("base", "vagrant", "production"):
        seen = set()
        for doc in rendered[name]:
            if doc["kind"] not in WORKLOADS or "template" not in doc.get("spec", {}) | doc.get("spec", {}).get(
                    "jobTemplate", {}).get("spec", {}):
                continue
            workload = doc["metadata"]["name"]
            held = _secrets_held(doc) & set(TOKEN_FILES)
            expected = TOKEN_SECRETS.get(workload, set())
            assert held == expected, f"{name}: {doc['kind']} {workload} holds {sorted(held)}"
            seen.add(workload)
            env = _env(_containers(doc)[0])
            assert "UDACONNECT_AUTH_SECRET" not in env and "UDACONNECT_AUTH_SECRET_FILE" not in env, workload
            pod = _pod(doc)
            mounts = {m["name"]: m for m in _containers(doc)[0].get("volumeMounts", [])}
            for secret in expected:
                setting, file = TOKEN_FILES[secret]
                (volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == secret]
                mount = mounts[volume["name"]]
                assert mount.get("readOnly") is True and "subPath" not in mount, (workload, secret)  # a roll updates it
                assert env[setting]["value"] == f"{mount['mountPath']}/{file}", (workload, setting)
            for secret in set(TOKEN_FILES) - expected:
                assert TOKEN_FILES[secret][0] not in env, (workload, TOKEN_FILES[secret][0])
        assert set(TOKEN_SECRETS) <= seen, name


def test_the_token_secrets_hold_one_file_each(rendered) -> None:
    for name in ("vagrant", "production"):
        for secret, (_, file) in TOKEN_FILES.items():
            (doc,) = find(rendered[name], "Secret", secret)
            assert set(doc["data"]) == {file}, (name, secret)


def test_only_the_publishers_and_knative_eventing_reach_the_broker_ingress(overlay) -> None:
    """Written out: the five functions that publish, and Knative Eventing's own pods; nothing else."""
    _, docs = overlay
    policy = _policy(docs, "broker-ingress-from-publishers")
    assert policy["metadata"]["namespace"] == "knative-eventing"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "kafka-broker-receiver"}}
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"][0] == {"podSelector": {}}  # its own namespace: dispatcher replies, PingSource
    (ours,) = rule["from"][1:]
    assert ours["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "udaconnect"}}
    (expression,) = ours["podSelector"]["matchExpressions"]
    assert (expression["key"], expression["operator"]) == ("app.kubernetes.io/name", "In")
    assert sorted(expression["values"]) == ["encounters", "ingest", "persist", "persons", "udaconnect-outbox-relay"]


def test_the_edge_never_logs_a_request_line_a_token_or_a_person_id_could_be_in(overlay) -> None:
    """A live stream's URL holds its bearer token (?access_token=: an EventSource sends no headers) and API paths
    hold person ids: nginx's default format ("combined") logs both. Every access_log names a format of ours
    that holds neither."""
    import re

    _, docs = overlay
    for conf in (d["data"]["nginx.conf"] for d in find(docs, "ConfigMap", "edge-nginx")):
        formats = dict(re.findall(r"log_format\s+(\S+)\s+'([^;]*)';", conf))
        logs = re.findall(r"access_log\s+([^;]*);", conf)
        assert logs, "no access_log: nginx logs every request line in the combined format to its default file"
        for line in logs:
            target, *name = line.split()
            if target == "off":
                continue
            assert name and name[0] in formats, f"access_log {line}: the default format logs the request line"
            leaky = [v for v in ("$request ", "$request_uri", "$uri", "$args", "$query_string", "$arg_",
                                 "$http_authorization", "$document_uri") if v in formats[name[0]] + " "]
            assert not leaky, f"log_format {name[0]} logs {leaky}"
