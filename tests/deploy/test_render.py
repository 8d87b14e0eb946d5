"""Every overlay renders, and each renders what it promises (image, exposure, in-cluster or external data)."""

from __future__ import annotations

import re

from tests.deploy.conftest import MANIFESTS, OVERLAYS, Doc, containers, find, knative_services

from udaconnect.routes import TARGETS


def migration_job(docs: list[Doc]) -> Doc:
    """The one migration Job (production names it after the image tag)."""
    jobs = [d for d in find(docs, "Job") if d["metadata"]["labels"].get("app.kubernetes.io/component") == "migration"]
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return jobs[0]


def test_the_overlays_exist() -> None:
    assert {"vagrant", "production"} <= set(OVERLAYS)


def test_every_overlay_renders_one_knative_service_per_target(overlay) -> None:
    name, docs = overlay
    assert sorted(s["metadata"]["name"] for s in knative_services(docs)) == sorted(TARGETS), name


def test_no_object_is_rendered_twice(overlay) -> None:
    name, docs = overlay
    ids = [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(ids) == len(set(ids)), name


#: Kinds that live in no namespace.
CLUSTER_SCOPED = frozenset({"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})


def test_every_namespaced_object_names_its_namespace(overlay) -> None:
    # The base sets no global namespace (Kafka lives in "kafka"): each object must say where it goes.
    name, docs = overlay
    missing = [(d["kind"], d["metadata"]["name"]) for d in docs
               if d["kind"] not in CLUSTER_SCOPED and not d["metadata"].get("namespace")]
    assert missing == [], name


def test_the_image_is_named_in_one_place_per_overlay() -> None:
    # Base files say `image: udaconnect`; only an overlay's kustomization `images:` turns it into a reference.
    for path in (MANIFESTS / "base").glob("*.yaml"):
        for image in re.findall(r"^\s*image:\s*(\S+)", path.read_text(), re.M):
            assert image == "udaconnect" or "/" in image, f"{path.name}: {image}"
    mentions = [p for p in MANIFESTS.rglob("*.yaml") if "localhost:5000/udaconnect" in p.read_text()]
    assert [p.relative_to(MANIFESTS).as_posix() for p in mentions] == ["overlays/vagrant/kustomization.yaml"]


def test_every_udaconnect_container_runs_the_overlays_image(overlay) -> None:
    name, docs = overlay
    expected = {"vagrant": "localhost:5000/udaconnect:dev"}.get(name)
    workloads = [d for d in docs if (d["kind"] in ("Service", "Job") and "template" in d.get("spec", {}))
                 or d["kind"] == "CronJob"]
    images = {c["image"] for d in workloads for c in containers(d)
              if c["image"].rsplit("/", 1)[-1].split(":")[0] == "udaconnect"}
    assert images and "udaconnect" not in images, f"{name}: the bare base image name leaked: {images}"
    assert all(":" in i.rsplit("/", 1)[-1] for i in images), f"{name}: untagged image in {images}"
    if expected:
        assert images == {expected}


def test_vagrant_exposes_the_web_client_on_30000_and_the_api_on_30001(rendered) -> None:
    edge = find(rendered["vagrant"], "Service", "edge", api_group="v1")[0]
    assert edge["spec"]["type"] == "NodePort"
    ports = {p["nodePort"]: p["targetPort"] for p in edge["spec"]["ports"]}
    assert ports == {30000: "web", 30001: "api"}
    deployment = find(rendered["vagrant"], "Deployment", "edge")[0]
    named = {p["name"]: p["containerPort"] for c in containers(deployment) for p in c["ports"]}
    conf = find(rendered["vagrant"], "ConfigMap", "edge-nginx")[0]["data"]["nginx.conf"]
    # The web port sends /api/ to the gateway and the rest to web; the API port sends everything to the gateway.
    web_server, api_server = conf.split("server {")[1:]
    assert f"listen {named['web']};" in web_server and f"listen {named['api']};" in api_server
    assert re.search(r"location /api/ \{\s*set \$upstream gateway\.udaconnect\.svc\.cluster\.local;", web_server)
    assert re.search(r"location / \{\s*set \$upstream web\.udaconnect\.svc\.cluster\.local;", web_server)
    assert re.search(r"location / \{\s*set \$upstream gateway\.udaconnect\.svc\.cluster\.local;", api_server)


def test_vagrant_runs_postgis_and_kafka_in_the_cluster_and_seeds_demo_data(rendered) -> None:
    docs = rendered["vagrant"]
    statefulset = find(docs, "StatefulSet", "postgis")[0]
    # PostgreSQL 15, as the local stack's embedded cluster (postgresql-15-postgis-3); tests/deploy/test_images.py
    # checks the image itself.
    assert statefulset["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[-1].startswith("15-")
    assert statefulset["spec"]["volumeClaimTemplates"], "PostGIS needs a volume"
    assert find(docs, "Kafka") and find(docs, "KafkaNodePool")
    job = migration_job(docs)
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "udaconnect db upgrade" in command and "udaconnect seed --demo" in command
    assert command.index("db upgrade") < command.index("seed --demo")


def test_production_uses_external_data_services(rendered) -> None:
    docs = rendered["production"]
    for kind in ("StatefulSet", "Kafka", "KafkaNodePool"):
        assert find(docs, kind) == [], kind
    assert find(docs, "Namespace", "kafka") == []
    config = find(docs, "ConfigMap", "udaconnect-config")[0]["data"]
    assert ".svc" not in config["KAFKA_BOOTSTRAP_SERVERS"] and ".svc" not in config["DATABASE_HOST"]
    assert config["DATABASE_SSLMODE"] in ("require", "verify-ca", "verify-full")
    migrate = migration_job(docs)
    assert migrate["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "sh", "-c", "udaconnect db upgrade && python -m udaconnect.storage.roles --passwords /etc/udaconnect/db-roles"]
    relay = find(docs, "CronJob", "udaconnect-outbox-relay")[0]
    assert containers(relay)[0]["command"] == ["udaconnect", "outbox", "flush"]


def test_production_keeps_pods_warm_and_larger_than_vagrant(rendered) -> None:
    def scale(docs, name):
        ksvc = find(knative_services(docs), "Service", name)[0]
        notes = ksvc["spec"]["template"]["metadata"]["annotations"]
        memory = ksvc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        return int(notes["autoscaling.knative.dev/min-scale"]), int(notes["autoscaling.knative.dev/max-scale"]), memory

    def mebibytes(quantity: str) -> int:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    for target in TARGETS:
        vagrant, production = scale(rendered["vagrant"], target), scale(rendered["production"], target)
        # retention is woken by its hourly PingSource: nobody waits on its cold start
        assert production[0] >= 1 or target == "retention", f"{target}: production keeps at least one pod warm"
        assert production[1] >= vagrant[1], target
        assert mebibytes(production[2]) >= mebibytes(vagrant[2]), target


def test_vagrant_pulls_the_rebuilt_dev_image_everywhere_it_runs(rendered) -> None:
    # build-image.sh pushes a new "dev" under the same tag: any container of it that may use the node's cached
    # copy runs stale code (the outbox relay CronJob did).
    for doc in rendered["vagrant"]:
        if doc["kind"] in ("Service", "Deployment", "StatefulSet", "Job", "CronJob") and (
                "template" in doc["spec"] or "jobTemplate" in doc["spec"]):
            for container in containers(doc):
                if container["image"] == "localhost:5000/udaconnect:dev":
                    assert container.get("imagePullPolicy") == "Always", f"{doc['kind']}/{doc['metadata']['name']}"


def test_postgis_gets_a_shared_memory_volume_larger_than_the_runtimes_64_mib(rendered) -> None:
    pod = find(rendered["vagrant"], "StatefulSet", "postgis")[0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert "/dev/shm" in mounts, "PostgreSQL's parallel queries fail once /dev/shm's 64 MiB are used"
    shm = volumes[mounts["/dev/shm"]]["emptyDir"]
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", shm["sizeLimit"]).groups()  # type: ignore[union-attr]
    assert shm["medium"] == "Memory" and int(number) * (1024 if unit == "Gi" else 1) > 64


def test_the_namespace_comment_does_not_blame_queue_proxy() -> None:
    # Knative Serving 1.23's queue-proxy runs with RuntimeDefault seccomp, a read-only root and no capabilities
    # (pkg/reconciler/revision/resources/queue.go): it meets "restricted" whatever secure-pod-defaults says.
    text = (MANIFESTS / "base" / "namespaces.yaml").read_text()
    assert not re.search(r"queue-proxy[^\n]*\n?[^\n]*sets no seccomp", text)
