"""The deployment files: valid Kubernetes objects with the probes, ports and hardening we rely on;
a ServiceMonitor that scrapes the metrics port; a Compose file that names every service; a
Dockerfile hadolint accepts, on a base image pinned by digest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
# Kinds of the Prometheus Operator's CRDs, which kubernetes-validate has no schema for: their
# shape is checked below, field by field.
OPERATOR_MANIFESTS = {"servicemonitor.yaml"}
BIN = Path(sys.executable).parent
# The operator's Duration (monitoringv1.Duration): 30s, 1m30s, 500ms, ...
DURATION = re.compile(r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
SERVICE_MONITOR_SPEC = frozenset(
    [
        "endpoints",
        "selector",
        "namespaceSelector",
        "jobLabel",
        "targetLabels",
        "podTargetLabels",
        "sampleLimit",
        "targetLimit",
        "attachMetadata",
    ]
)
SERVICE_MONITOR_ENDPOINT = frozenset(
    [
        "port",
        "targetPort",
        "path",
        "scheme",
        "interval",
        "scrapeTimeout",
        "honorLabels",
        "honorTimestamps",
        "relabelings",
        "metricRelabelings",
        "tlsConfig",
        "params",
        "followRedirects",
        "enableHttp2",
    ]
)


def objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        o
        for p in MANIFESTS
        for o in objects(p)
        if o["kind"] == kind and name in (None, o["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    "path", [p for p in MANIFESTS if p.name not in OPERATOR_MANIFESTS], ids=lambda p: p.name
)
def test_each_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # An unknown kind is only a warning to it: such a manifest was not validated at all.
    assert "Couldn't find schema" not in result.stdout + result.stderr


def test_the_kustomization_lists_every_manifest_but_the_templates_and_operator_objects() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secret.example.yaml"} - OPERATOR_MANIFESTS


def test_the_service_monitor_scrapes_the_metrics_port_of_the_service() -> None:
    monitor = one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"]["name"] == "userservice"
    spec = monitor["spec"]
    assert set(spec) <= SERVICE_MONITOR_SPEC
    selected = [
        o
        for p in MANIFESTS
        for o in objects(p)
        if o["kind"] == "Service"
        and spec["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
    ]
    [endpoint] = spec["endpoints"]
    # Both Services carry the label; only one publishes the endpoint's port, so each pod is
    # scraped once.
    [service] = [s for s in selected if endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    container = one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT
    assert container_ports[ports[endpoint["port"]]["targetPort"]] == int(
        one("ConfigMap")["data"]["USERSERVICE_METRICS_PORT"]
    )
    assert endpoint["path"] == "/metrics"
    assert endpoint["scheme"] == "http"
    interval, timeout = endpoint["interval"], endpoint["scrapeTimeout"]
    assert DURATION.match(interval)
    assert DURATION.match(timeout)
    assert seconds(timeout) <= seconds(interval)


def seconds(duration: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def test_the_deployment_probes_liveness_and_readiness_over_native_grpc() -> None:
    container = one("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["grpc"] == {"port": 50051, "service": ""}
    assert container["readinessProbe"]["grpc"] == {
        "port": 50051,
        "service": "userservice.v1.UserService",
    }
    assert container["startupProbe"]["grpc"]["port"] == 50051
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "grpc": 50051,
        "metrics": 9464,
    }
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_the_pods_run_unprivileged_on_a_read_only_root() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    job_pod = one("Job")["spec"]["template"]["spec"]
    for spec in (pod, job_pod):
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]


def test_the_termination_grace_leaves_room_for_the_drain() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    config = one("ConfigMap")["data"]
    drain = float(config["USERSERVICE_SHUTDOWN_DRAIN_SECONDS"])
    grace = float(config["USERSERVICE_SHUTDOWN_GRACE_SECONDS"])
    assert drain >= 5  # endpoints and client-side balancers need a few seconds to drop the pod
    assert pod["terminationGracePeriodSeconds"] >= drain + grace + 5


@pytest.mark.parametrize("name", ["userservice", "userservice-grpc"])
def test_the_services_name_their_port_with_the_grpc_app_protocol(name: str) -> None:
    [grpc_port] = [p for p in one("Service", name)["spec"]["ports"] if p["name"] == "grpc"]
    assert grpc_port["appProtocol"] == "grpc"
    assert grpc_port["port"] == 50051


def test_grpc_clients_get_a_headless_service_over_the_ready_pods() -> None:
    headless = one("Service", "userservice-grpc")["spec"]
    pods = one("Deployment")["spec"]["selector"]["matchLabels"]
    assert headless["clusterIP"] == "None"
    assert headless["selector"] == pods
    assert headless.get("publishNotReadyAddresses", False) is False


def test_the_autoscaler_and_disruption_budget_keep_a_replica() -> None:
    assert one("HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    assert one("PodDisruptionBudget")["spec"]["minAvailable"] >= 1
    assert one("Job")["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_the_secret_template_holds_no_real_secret() -> None:
    secrets = [o for o in objects(K8S / "secret.example.yaml") if o["kind"] == "Secret"]
    values = [v for s in secrets for v in (s.get("stringData") or {}).values()]
    assert values
    assert all("REPLACE_ME" in v or v == "changeme" for v in values)
    assert all(not s.get("data") for s in secrets)


def test_the_compose_file_runs_every_part_with_health_gates() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "userservice"} <= set(services)
    depends = services["userservice"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["userservice"]["environment"]["USERSERVICE_ENVIRONMENT"] == "production"


def test_hadolint_accepts_the_dockerfile() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_userservice_serve_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["userservice"]' in dockerfile
    assert 'CMD ["serve"]' in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "userservice" in dockerfile.split("HEALTHCHECK")[1]
    assert "EXPOSE 50051 9464" in dockerfile


def test_every_image_the_dockerfile_starts_from_is_pinned_by_digest() -> None:
    stages: set[str] = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not line.startswith("FROM "):
            continue
        image, _, alias = line.removeprefix("FROM ").partition(" AS ")
        assert image in stages or re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), line
        stages.add(alias.strip())
    assert stages, "no FROM line"
