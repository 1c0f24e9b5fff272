"""The files in deploy/: they parse, and what they refer to exists.

No Docker engine or cluster runs here, so these are the checks that can be made offline: YAML
syntax, the compose file's references between services, volumes and files, the Kubernetes objects'
shape (probes on /healthz, the Secret and ConfigMap the pods read), and that the nginx template
the compose file mounts is the one the deployment test runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from config.settings import ENV_KEYS
from tests.deploy.nginx import TEMPLATE, render_template

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# Variables that are not settings of llmgate's own but read by it or by the image.
KNOWN_ELSEWHERE = {"LLMGATE_CONFIG", "LLMGATE_REDIS_URL"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _llmgate_variables(environment: dict) -> set[str]:
    return {name for name in environment if name.startswith("LLMGATE_")}


def test_compose_services_refer_to_what_exists() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"gateway", "nginx", "postgres", "redis", "migrate"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if build:
            assert (DEPLOY / build / "Dockerfile").is_file()
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] >= 2
    environment = gateway["environment"]
    # Every instance must share the database, the server key and Redis; and nginx is one proxy.
    assert "@postgres:5432/" in environment["LLMGATE_DATABASE_URL"]
    assert environment["LLMGATE_REDIS_URL"].startswith("redis://redis:6379")
    assert environment["LLMGATE_PROXIES_COUNT"] == "1"
    assert _llmgate_variables(environment) <= set(ENV_KEYS) | KNOWN_ELSEWHERE
    nginx = services["nginx"]
    assert "gateway:8080" in nginx["environment"]["LLMGATE_UPSTREAMS"]
    assert any(volume.startswith("./nginx/llmgate.conf.template:/etc/nginx/templates/") for volume in nginx["volumes"])


def test_compose_secrets_come_from_the_operator() -> None:
    text = COMPOSE.read_text()
    for required in ("LLMGATE_SECRET_KEY", "POSTGRES_PASSWORD", "LLMGATE_METRICS_TOKEN"):
        assert re.search(r"\$\{" + required + r":\?", text), f"{required} must be required, not defaulted"


def test_the_nginx_template_fills_in_with_the_compose_values() -> None:
    nginx = _compose()["services"]["nginx"]["environment"]
    site = render_template(TEMPLATE.read_text(), {"NGINX_PORT": nginx["NGINX_PORT"],
                                                  "LLMGATE_UPSTREAMS": nginx["LLMGATE_UPSTREAMS"]})  # fmt: skip
    assert "server gateway:8080" in site and "listen 8080;" in site
    assert "proxy_buffering off;" in site and "$proxy_add_x_forwarded_for" in site


def _kubernetes_objects() -> list[dict]:
    objects = []
    for path in KUBERNETES:
        objects += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return objects


def test_kubernetes_manifests_parse_and_wire_together() -> None:
    assert KUBERNETES
    objects = {(item["kind"], item["metadata"]["name"]): item for item in _kubernetes_objects()}
    for item in objects.values():
        assert item["apiVersion"] and item["kind"] and item["metadata"]["name"]
    deployment = objects[("Deployment", "llmgate")]
    spec = deployment["spec"]
    pod = spec["template"]
    assert spec["replicas"] >= 2
    assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["port"] in port_names
    sources = {(kind, ref["name"]) for entry in container["envFrom"] for kind, ref in entry.items()}
    assert ("secretRef", "llmgate") in sources and ("configMapRef", "llmgate") in sources
    secret = objects[("Secret", "llmgate")]
    assert {"LLMGATE_SECRET_KEY", "LLMGATE_DATABASE_URL"} <= set(secret["stringData"])
    config = objects[("ConfigMap", "llmgate")]
    assert set(config["data"]) | set(secret["stringData"]) <= set(ENV_KEYS) | KNOWN_ELSEWHERE
    assert all(isinstance(value, str) for value in config["data"].values())  # env values must be strings
    # The graceful stop of open streams fits in the pod's grace period.
    assert pod["spec"]["terminationGracePeriodSeconds"] > int(config["data"]["LLMGATE_GRACEFUL_SHUTDOWN_SECONDS"])
    service = objects[("Service", "llmgate")]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert all(port["targetPort"] in port_names for port in service["spec"]["ports"])
