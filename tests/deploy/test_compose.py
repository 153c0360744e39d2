"""Static checks of the deployment files: docker-compose.yml, the Dockerfile, deploy/.

No Docker engine or cluster runs here, so these prove what can be proved without one:
the files parse, every command and setting they pass names something the code
knows, and the wiring (databases, health gating, secrets) is consistent.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from pydantic_settings import BaseSettings

from services.apps import SERVICES, definition_of, service_app
from services.console import gateway
from services.console.settings import ConsoleSettings
from services.demo.sink_app import create_app
from services.intake.settings import IntakeSettings
from services.notify.webhooks import new_secret, signature_headers
from shared.clock import Clock
from shared.people import Person
from shared.person_tokens import person_token_keys
from shared.settings import Settings, embedded_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
K8S_DIR = ROOT / "deploy" / "k8s"
DEPLOY_README = ROOT / "deploy" / "README.md"
PYPROJECT = ROOT / "pyproject.toml"

# The console: a deployable like the services, holding people, roles and sessions and
# no referral data; it calls the four referral services' APIs (gateway.SERVICES).
CONSOLE = "console"
REFERRAL_SERVICES = tuple(name for name in SERVICES if name != CONSOLE)

# The process's settings and every service's own (services/<name>/settings.py).
SETTINGS_MODELS: list[type[BaseSettings]] = [
    Settings,
    *(definition_of(name).settings for name in SERVICES),
]
SETTINGS_VARS = {name.upper() for model in SETTINGS_MODELS for name in model.model_fields}
# Variables a container may carry that are not Signpost settings.
NON_SETTINGS_VARS = {"DEMO_SINK_SECRET", "DEMO_SINK_LOG_FILE"}
INFRA = ("kafka", "postgres")
DUMMY = "dummy-value-for-static-checks-0123456789"

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def interpolate(value: str) -> str:
    """Compose's `${VAR}` forms with no variables set: defaults used, required ones dummied."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        op = match.group("op")
        if op is None:
            raise AssertionError(f"${{{match.group('name')}}} has neither a default nor :?")
        if op.endswith("-"):
            return match.group("arg")
        return DUMMY

    return _INTERPOLATION.sub(replace, value)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def settings_from(env: dict[str, str]) -> Settings:
    """Settings from exactly these variables (not this process's environment or a .env)."""
    values: dict[str, Any] = {
        k.lower(): interpolate(v) for k, v in env.items() if k in SETTINGS_VARS
    }
    return Settings(_env_file=None, **values)


def intake_settings_from(env: dict[str, str]) -> IntakeSettings:
    """Intake's own settings from exactly these variables, as its process reads them."""
    return settings_from(env).service_settings(IntakeSettings)


def database_name(url: str) -> str:
    return interpolate(url).rsplit("/", 1)[1].split("?", 1)[0]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def signpost_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run `signpost serve ...`, by service name."""
    found = {}
    for name, service in compose["services"].items():
        command = service.get("command") or []
        if isinstance(command, str):
            command = command.split()
        if command[:1] == ["serve"]:
            found[name] = service
    return found


@pytest.fixture(autouse=True)
def _no_settings_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)


def created_databases() -> set[str]:
    return set(re.findall(r"CREATE DATABASE\s+\"?(\w+)\"?", INIT_SQL.read_text(), re.I))


def console_settings_from(env: dict[str, str]) -> ConsoleSettings:
    """The console's own settings from exactly these variables, as its process reads them."""
    return settings_from(env).service_settings(ConsoleSettings)


def test_the_console_calls_exactly_the_four_referral_services():
    assert CONSOLE in SERVICES
    assert set(gateway.SERVICES) == set(REFERRAL_SERVICES)
    for name in gateway.SERVICES:
        assert f"console_{name}_url" in ConsoleSettings.model_fields, name


# --- docker-compose.yml -------------------------------------------------------------


def test_compose_defines_infrastructure_four_services_console_and_demo_sink(compose):
    expected = {"intake", "triage", "routing", "notify", "console", "kafka", "postgres"}
    assert expected | {"demo-sink"} <= set(compose["services"])


def test_each_signpost_service_runs_serve_with_its_own_name(signpost_services):
    assert set(signpost_services) == set(SERVICES)
    for name, service in signpost_services.items():
        command = service["command"]
        assert command[1] in SERVICES, f"{name}: `serve {command[1]}` is not a service"
        assert command[1] == name
        assert "--port" in command and command[command.index("--port") + 1] == "8000"


def test_signpost_services_build_the_dockerfile_with_signpost_entrypoint(signpost_services):
    for name, service in signpost_services.items():
        assert service.get("build") in (".", {"context": "."}), name
        assert "entrypoint" not in service, f"{name} must use the image's `signpost` entrypoint"


def test_every_env_var_on_a_signpost_service_is_a_settings_field(compose, signpost_services):
    for name in [*signpost_services, "demo-sink"]:
        unknown = set(environment_of(compose["services"][name])) - SETTINGS_VARS
        unknown -= NON_SETTINGS_VARS
        assert not unknown, f"{name} sets variables Settings does not read: {sorted(unknown)}"


def test_each_service_has_a_distinct_database_created_by_init_sql(signpost_services):
    created = created_databases()
    names = {}
    for name, service in signpost_services.items():
        env = environment_of(service)
        db = database_name(env["DATABASE_URL"])
        assert db in created, f"{name}'s database {db} is not created by init.sql"
        names[name] = db
    assert len(set(names.values())) == len(names), f"services share a database: {names}"
    assert database_name(environment_of(signpost_services["intake"])["KEYS_DATABASE_URL"]) in (
        created - set(names.values())
    ), "the key registry must be its own database, created by init.sql"


def test_shared_settings_are_identical_across_services(signpost_services):
    shared = ("KEYS_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "PERSON_TOKEN_PUBLIC_KEYS")
    for var in shared:
        values = {environment_of(s).get(var) for s in signpost_services.values()}
        assert len(values) == 1 and None not in values, f"{var} differs: {values}"
    values = {
        environment_of(signpost_services[s]).get("PSEUDONYM_SECRET") for s in REFERRAL_SERVICES
    }
    assert len(values) == 1 and None not in values, f"PSEUDONYM_SECRET differs: {values}"


def test_compose_refuses_to_start_without_pseudonym_secret(signpost_services):
    for name in REFERRAL_SERVICES:
        value = environment_of(signpost_services[name])["PSEUDONYM_SECRET"]
        assert re.fullmatch(r"\$\{PSEUDONYM_SECRET:\?[^}]+\}", value), (
            f"{name}: PSEUDONYM_SECRET must be required with ${{PSEUDONYM_SECRET:?...}}"
        )


def test_compose_console_holds_no_pseudonym_secret(compose):
    # It holds no referral data, so it has no use for the key behind subject keys.
    for name in (CONSOLE, f"{CONSOLE}-migrate"):
        assert "PSEUDONYM_SECRET" not in environment_of(compose["services"][name]), name


def test_each_service_environment_validates_as_distributed_settings(signpost_services):
    for name, service in signpost_services.items():
        env = environment_of(service)
        settings = settings_from(env)
        assert settings.mode == "distributed", name
        assert settings.database_url == interpolate(env["DATABASE_URL"])
        assert settings.database_url.startswith("postgresql://")
        assert settings.keys_database_url.startswith("postgresql://")
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        if name == CONSOLE:
            console_settings_from(env)  # its own settings validate too
        else:
            assert intake_settings_from(env).pseudonym_secret == DUMMY


def test_without_a_pseudonym_secret_service_settings_are_refused(signpost_services):
    env = environment_of(signpost_services["intake"])
    env["PSEUDONYM_SECRET"] = "${PSEUDONYM_SECRET:-}"
    with pytest.raises(ValueError, match="PSEUDONYM_SECRET"):
        intake_settings_from(env)


def test_kafka_is_apache_kafka_4_in_kraft_combined_mode_without_zookeeper(compose):
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    assert re.fullmatch(r"4\.\d+\.\d+", tag), f"pin a 4.x release, not {tag!r}"
    env = environment_of(kafka)
    assert env["KAFKA_NODE_ID"] == "1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "CONTROLLER://" in env["KAFKA_LISTENERS"]
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    for var, value in env.items():
        if "REPLICATION_FACTOR" in var:
            assert value == "1", var
    everything = COMPOSE_FILE.read_text().lower()
    assert "zookeeper" not in everything


def test_services_wait_for_healthy_kafka_and_postgres(compose, signpost_services):
    for dependency in INFRA:
        assert "healthcheck" in compose["services"][dependency], dependency
    for name, service in signpost_services.items():
        depends = service["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        # PostgreSQL through the migration, which waits for it to be healthy.
        migrate = compose["services"][f"{name}-migrate"]["depends_on"]
        assert migrate["postgres"]["condition"] == "service_healthy", name


def test_signpost_services_are_healthy_only_when_ready(signpost_services):
    for name, service in signpost_services.items():
        check = " ".join(service["healthcheck"]["test"])
        assert "/readyz" in check, name


def test_postgres_is_15_and_runs_init_sql_on_first_start(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    mounts = [m for m in postgres["volumes"] if "init.sql" in m]
    assert len(mounts) == 1
    source, target = mounts[0].split(":")[:2]
    assert (ROOT / source).resolve() == INIT_SQL
    assert target.startswith("/docker-entrypoint-initdb.d/")
    assert created_databases() == {
        "signpost_intake",
        "signpost_triage",
        "signpost_routing",
        "signpost_notify",
        "signpost_console",
        "signpost_keys",
    }


def test_intake_is_on_host_port_8000_the_others_on_8001_to_8003_the_console_on_8005(compose):
    def host_port(name: str) -> int:
        (mapping,) = compose["services"][name]["ports"]
        address, host, _container = str(mapping).split(":")
        assert address == "127.0.0.1", f"{name} must be published on the loopback only"
        return int(host)

    assert host_port("intake") == 8000
    assert sorted(host_port(s) for s in ("triage", "routing", "notify")) == [8001, 8002, 8003]
    assert host_port("demo-sink") == 8004
    assert host_port(CONSOLE) == 8005


def test_compose_only_the_console_holds_the_person_token_private_key(compose):
    holders = {
        name
        for name, service in compose["services"].items()
        if "PERSON_TOKEN_PRIVATE_KEY" in environment_of(service)
    }
    assert holders == {CONSOLE, f"{CONSOLE}-migrate"}
    value = environment_of(compose["services"][CONSOLE])["PERSON_TOKEN_PRIVATE_KEY"]
    # Optional: without it the console cannot act for people, but the stack runs.
    assert value == "${PERSON_TOKEN_PRIVATE_KEY:-}"


def test_compose_every_signpost_service_reads_the_person_token_public_keys(signpost_services):
    assert set(signpost_services) == set(SERVICES)
    for name, service in signpost_services.items():
        value = environment_of(service).get("PERSON_TOKEN_PUBLIC_KEYS")
        assert value == "${PERSON_TOKEN_PUBLIC_KEYS:-}", name


def test_compose_console_calls_each_service_by_its_compose_name_and_port(signpost_services):
    env = environment_of(signpost_services[CONSOLE])
    settings = console_settings_from(env)
    for name in gateway.SERVICES:
        url = getattr(settings, f"console_{name}_url")
        assert url == interpolate(env[f"CONSOLE_{name.upper()}_URL"]), name
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.path in ("", "/"), url
        assert parts.hostname == name and name in signpost_services, url
        command = signpost_services[name]["command"]
        assert parts.port == int(command[command.index("--port") + 1]), url


def test_compose_console_keeps_secure_cookies(signpost_services):
    # Right behind https, and on http://127.0.0.1, which browsers treat as secure.
    env = environment_of(signpost_services[CONSOLE])
    assert console_settings_from(env).console_secure_cookies is True


def test_demo_sink_runs_the_demo_sink_app_module(compose):
    sink = compose["services"]["demo-sink"]
    assert sink["entrypoint"] == ["uvicorn"]
    assert sink["command"][0] == "services.demo.sink_app:app"
    assert "DEMO_SINK_SECRET" in environment_of(sink)


def sink_client(secret: str | None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(secret))
    return httpx.AsyncClient(transport=transport, base_url="http://sink")


async def test_demo_sink_app_accepts_signed_webhooks_and_refuses_bad_signatures():
    secret = new_secret()
    body = json.dumps({"type": "org.signpost.referral.routed.v1", "data": {"x": 1}})
    headers = signature_headers(
        secret=secret, webhook_id="msg_1", timestamp=datetime.now(UTC), body=body
    )
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    async with sink_client(secret) as client:
        ok = await client.post("/demo/sink/webhook", content=body, headers=headers)
        assert ok.status_code == 200
        assert (await client.get("/demo/sink")).json()[-1]["webhook_id"] == "msg_1"
        bad = await client.post("/demo/sink/webhook", content=body, headers=forged)
        assert bad.status_code == 401
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_demo_sink_app_without_a_secret_refuses_deliveries():
    async with sink_client(None) as client:
        assert (await client.post("/demo/sink/webhook", content=b"{}")).status_code == 404
        assert (await client.get("/demo/sink")).json() == []


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_is_slim_python_installs_with_constraints_and_runs_as_non_root():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pip install -c constraints.txt ." in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["signpost"]' in text
    assert "HEALTHCHECK" in text and "/healthz" in text


def test_dockerfile_copies_only_paths_that_exist():
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", DOCKERFILE.read_text(), re.M):
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


# --- deploy/k8s ---------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in k8s_documents() if d.get("kind") == kind]


def containers() -> list[dict[str, Any]]:
    return [c for d in of_kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]]


def test_k8s_manifests_parse_and_each_names_its_kind():
    docs = k8s_documents()
    assert docs
    for doc in docs:
        assert doc.get("kind"), doc
        assert doc.get("apiVersion"), doc


def test_k8s_has_a_deployment_and_service_per_service_running_serve_with_its_name():
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    services = {d["metadata"]["name"] for d in of_kind("Service")}
    for name in SERVICES:
        assert f"signpost-{name}" in deployments
        assert f"signpost-{name}" in services
        (container,) = deployments[f"signpost-{name}"]["spec"]["template"]["spec"]["containers"]
        assert container["args"][:2] == ["serve", name]


def test_k8s_every_env_var_name_is_a_settings_field():
    configmaps = {d["metadata"]["name"]: d for d in of_kind("ConfigMap")}
    for container in containers():
        names = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            names |= set(configmaps[source["configMapRef"]["name"]]["data"])
        unknown = names - SETTINGS_VARS
        assert not unknown, f"{container['name']}: not Settings fields: {sorted(unknown)}"
        assert {"DATABASE_URL", "KEYS_DATABASE_URL", "PERSON_TOKEN_PUBLIC_KEYS"} <= names
        # The console holds no referral data: no key behind subject keys.
        assert ("PSEUDONYM_SECRET" in names) == (container["name"] != CONSOLE), container["name"]


def test_k8s_shared_configmap_validates_as_distributed_settings():
    (configmap,) = of_kind("ConfigMap")
    env = {**configmap["data"], "PSEUDONYM_SECRET": DUMMY}
    assert settings_from(env).mode == "distributed"


def test_k8s_secret_template_holds_only_variable_references():
    (secret,) = of_kind("Secret")
    values = secret["stringData"]
    assert values
    for key, value in values.items():
        assert re.fullmatch(r"\$\{[A-Z_]+\}", value), f"{key} holds a value, not a reference"
    assert "${PSEUDONYM_SECRET}" in values.values()


def test_k8s_secret_refs_name_keys_in_the_secret_template():
    (secret,) = of_kind("Secret")
    for container in containers():
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == secret["metadata"]["name"]
                assert ref["key"] in secret["stringData"], ref


def test_k8s_each_service_reads_its_own_database_url():
    keys = set()
    for container in containers():
        (entry,) = [e for e in container["env"] if e["name"] == "DATABASE_URL"]
        keys.add(entry["valueFrom"]["secretKeyRef"]["key"])
    assert len(keys) == len(SERVICES)


def test_k8s_probes_readiness_on_readyz_serving_liveness_on_healthz_and_limits_memory():
    # A load balancer asks only what the API needs (the databases and the key
    # registry): a broker outage must not take intake's 202s out of service.
    for container in containers():
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz/serving"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        limit = container["resources"]["limits"]["memory"]
        assert limit.endswith("Mi") and int(limit[:-2]) <= 512


def test_k8s_probe_paths_are_routes_of_every_service(tmp_path: Path):
    paths = {
        container[probe]["httpGet"]["path"]
        for container in containers()
        for probe in ("readinessProbe", "livenessProbe")
    }
    for name in SERVICES:
        app = service_app(name, embedded_settings(tmp_path / name))
        routes = {getattr(route, "path", None) for route in app.routes}
        assert paths <= routes, (name, paths - routes)


def test_k8s_replicas_do_not_exceed_topic_partitions():
    (configmap,) = of_kind("ConfigMap")
    partitions = int(configmap["data"]["TOPIC_PARTITIONS"])
    for deployment in of_kind("Deployment"):
        assert deployment["spec"]["replicas"] <= partitions, deployment["metadata"]["name"]


def test_compose_migrates_each_database_before_its_service_starts(compose, signpost_services):
    for name, service in signpost_services.items():
        migrate = compose["services"][f"{name}-migrate"]
        assert migrate["command"] == ["migrate", "--service", name]
        assert migrate.get("restart") == "no"
        assert environment_of(migrate) == environment_of(service), name
        needs = service["depends_on"][f"{name}-migrate"]
        assert needs["condition"] == "service_completed_successfully", name


def test_k8s_migrates_each_database_in_an_init_container_with_the_service_environment():
    for deployment in of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        (init,) = spec["initContainers"]
        service = container["args"][1]
        assert init["args"] == ["migrate", "--service", service]
        assert init["image"] == container["image"]
        assert init["env"] == container["env"] and init["envFrom"] == container["envFrom"]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind("Deployment")}


def env_names(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_k8s_only_the_console_is_given_the_person_token_private_key():
    for name, deployment in deployments().items():
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec["containers"], *spec["initContainers"]]:
            entry = env_names(container).get("PERSON_TOKEN_PRIVATE_KEY")
            if name != f"signpost-{CONSOLE}":
                assert entry is None, f"{name}/{container['name']} holds the private key"
                continue
            assert entry is not None, f"{name}/{container['name']}"
            assert entry["valueFrom"]["secretKeyRef"]["key"] == "person-token-private-key"
    (secret,) = of_kind("Secret")
    assert secret["stringData"]["person-token-private-key"] == "${PERSON_TOKEN_PRIVATE_KEY}"
    (configmap,) = of_kind("ConfigMap")
    assert not {"PERSON_TOKEN_PRIVATE_KEY", "PSEUDONYM_SECRET"} & set(configmap["data"])


def test_k8s_every_signpost_service_reads_the_person_token_public_keys():
    found = deployments()
    for name in SERVICES:
        spec = found[f"signpost-{name}"]["spec"]["template"]["spec"]
        for container in [*spec["containers"], *spec["initContainers"]]:
            entry = env_names(container)["PERSON_TOKEN_PUBLIC_KEYS"]
            assert entry["valueFrom"]["secretKeyRef"]["key"] == "person-token-public-keys"
    (secret,) = of_kind("Secret")
    assert secret["stringData"]["person-token-public-keys"] == "${PERSON_TOKEN_PUBLIC_KEYS}"


def test_k8s_console_calls_each_service_through_its_service():
    services = {d["metadata"]["name"]: d for d in of_kind("Service")}
    found = deployments()
    (container,) = found[f"signpost-{CONSOLE}"]["spec"]["template"]["spec"]["containers"]
    env = {name: entry["value"] for name, entry in env_names(container).items() if "value" in entry}
    settings = console_settings_from(env)
    for name in gateway.SERVICES:
        parts = urlsplit(getattr(settings, f"console_{name}_url"))
        assert parts.scheme == "http" and parts.path in ("", "/"), (name, parts)
        service = services[str(parts.hostname)]
        ports = {p["port"] for p in service["spec"]["ports"]}
        assert (parts.port or 80) in ports, (name, parts.port, ports)
        # The Service sends to the pods that serve that service.
        target = found[f"signpost-{name}"]["spec"]["template"]
        labels = target["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items(), name
        (served,) = target["spec"]["containers"]
        assert served["args"][:2] == ["serve", name]
    # The console is for people over https (an Ingress terminating TLS in front of it).
    assert settings.console_secure_cookies is True


def key_pair_from_the_readme() -> dict[str, str]:
    """Runs the key-pair command deploy/README.md gives, and reads what it exports."""
    (code,) = re.findall(r"eval \"\$\(python3 -c '([^']*)'\)\"", DEPLOY_README.read_text())
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    exported = {}
    for line in out.splitlines():
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        exported[name] = value
    assert set(exported) == {"PERSON_TOKEN_PRIVATE_KEY", "PERSON_TOKEN_PUBLIC_KEYS"}
    for value in exported.values():
        assert "\n" not in value and "\\n" in value, "one line, its line breaks written \\n"
    return exported


def signs_and_verifies(console: Settings, service: Settings) -> None:
    clock = Clock()
    signer, _ = person_token_keys(console, clock=clock)
    no_signer, verifier = person_token_keys(service, clock=clock)
    assert signer is not None and no_signer is None and verifier is not None
    person = Person(id="p1", name="Sam Hale", organisation="demoshire-hub", roles=("admin",))
    principal = verifier.verify(signer.mint(person))
    assert principal is not None and principal.person_id == "p1"


def test_the_documented_key_pair_works_in_compose(signpost_services):
    keys = key_pair_from_the_readme()

    def settings_of(name: str) -> Settings:
        env = environment_of(signpost_services[name])
        # As compose interpolates them, from the shell the command exported them into.
        given = {k: v.replace(f"${{{k}:-}}", keys.get(k, "")) for k, v in env.items()}
        return settings_from(given)

    for name in REFERRAL_SERVICES:
        signs_and_verifies(settings_of(CONSOLE), settings_of(name))


def test_the_documented_key_pair_works_through_the_k8s_secret_template():
    keys = key_pair_from_the_readme()
    template = (K8S_DIR / "secret.template.yaml").read_text()
    # As `envsubst` renders it: the values land inside YAML double-quoted strings.
    rendered = re.sub(r"\$\{([A-Z_]+)\}", lambda m: keys.get(m.group(1), "x"), template)
    data = yaml.safe_load(rendered)["stringData"]

    def settings_of(name: str) -> Settings:
        (container,) = deployments()[f"signpost-{name}"]["spec"]["template"]["spec"]["containers"]
        env = {
            e["name"]: data[e["valueFrom"]["secretKeyRef"]["key"]]
            for e in container["env"]
            if e["name"].startswith("PERSON_TOKEN_")
        }
        return settings_from({**env, "MODE": "distributed"})

    for name in REFERRAL_SERVICES:
        signs_and_verifies(settings_of(CONSOLE), settings_of(name))


# --- packaging ----------------------------------------------------------------------


def test_the_image_carries_every_data_file_the_code_reads():
    # The Dockerfile installs the package (`pip install .`, not an editable copy), so a
    # template, stylesheet, script or data file reaches the image only through
    # pyproject's package-data: the console's pages need their HTML, CSS and JS.
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["*"]
    missing = []
    for top in ("services", "shared"):
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".py", ".pyc"):
                continue
            if path.suffix == ".md":  # documentation, not read at run time
                continue
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not installed into the image (pyproject package-data): {missing}"
