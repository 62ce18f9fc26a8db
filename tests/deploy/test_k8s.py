"""The Kubernetes manifests of deploy/k8s: schema validation and what an operator would check.

* kubeconform (installed by deploy/k8s/install-kubeconform.sh into .tools/bin) validates every
  manifest, file by file, in strict mode against the Kubernetes JSON schemas that the PyPI
  package kubernetes-validate ships (offline), for the oldest and the newest Kubernetes the
  manifests are meant for;
* the ECK resources (Elasticsearch, Kibana) against the schemas of ECK's own CRDs, taken from
  the Go module github.com/elastic/cloud-on-k8s/v3 (Go module proxy) at test time and
  converted here; nothing downloaded is written into the repository;
* the Strimzi resources structurally only (no registry ships Strimzi's CRDs; see
  deploy/k8s/README.md): kinds, names, and that topics, user, ACLs and addresses match the
  project's settings;
* and against the code: probes on the real health endpoints and ports of each role, resources,
  non-root, the worker's state volume where sitrep keeps its RocksDB stores, HPA bounded by the
  partitions of sitrep.reports, a PodDisruptionBudget per role, container args that are real
  `sitrep` subcommands, environment variables that are real settings and parse, Secret keys
  that the templates provide, ConfigMaps equal to the repository files they carry.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, reduce
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from sitrep.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBECONFORM = ROOT / ".tools" / "bin" / "kubeconform"
INSTALL_HINT = "run deploy/k8s/install-kubeconform.sh (installs .tools/bin/kubeconform)"
# Oldest Kubernetes the manifests are written for (README.md); the newest is the newest schema
# set that kubernetes-validate ships.
OLDEST_KUBERNETES = "1.30.0"
# ECK release whose CRDs define the examples' Elasticsearch and Kibana (Go module, has go.mod).
ECK_MODULE = "github.com/elastic/cloud-on-k8s/v3@v3.2.0"
ECK_CRDS = "config/crds/v1/all-crds.yaml"
STRIMZI_KINDS = ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser")
# Not sitrep settings, allowed in the environment of the containers.
PLAIN_ENV = {"HOME", "PYTHONDONTWRITEBYTECODE"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


# --- loading --------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def documents(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)


def objects(kind: str | None = None, under: Path = K8S) -> list[dict[str, Any]]:
    return [
        doc
        for path in manifest_files()
        if path.is_relative_to(under)
        for doc in documents(path)
        if kind is None or doc["kind"] == kind
    ]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in objects(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def base_objects() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` creates."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return [doc for name in listed["resources"] for doc in documents(K8S / name)]


def secret_templates() -> dict[str, dict[str, str]]:
    path = K8S / "secrets" / "secrets.template.yaml"
    return {
        d["metadata"]["name"]: d["stringData"] for d in documents(path) if d["kind"] == "Secret"
    }


def configmap_data(name: str) -> dict[str, str]:
    return dict(one("ConfigMap", name)["data"])


def quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6}
    text = str(value)
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- the roles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """A long-running role: its workload, subcommand, health endpoints and port setting."""

    kind: str
    name: str
    args: tuple[str, ...]
    health_paths: frozenset[str]  # paths the role really serves (checked against the code)
    readiness_path: str
    source: str  # where the role's HTTP routes are declared
    route_pattern: str  # how a route is declared there ({path} is filled in)
    port_setting: tuple[str, str]  # (section, field) of the listen port
    host_setting: tuple[str, str]

    def port(self, settings: Settings) -> int:
        return int(getattr(getattr(settings, self.port_setting[0]), self.port_setting[1]))

    def host(self, settings: Settings) -> str:
        return str(getattr(getattr(settings, self.host_setting[0]), self.host_setting[1]))


ROLES = {
    "intake": Role(
        "Deployment",
        "sitrep-intake",
        ("intake", "serve"),
        frozenset({"/healthz", "/readyz"}),
        "/readyz",
        "producers/intake/app.py",
        '@app.get("{path}"',
        ("intake", "port"),
        ("intake", "host"),
    ),
    # Health paths answer without a token (sitrep/monitoring.py PUBLIC_PATHS); /metrics and the
    # other pages of the worker, index and notify need a monitoring token a probe has not got.
    "worker": Role(
        "StatefulSet",
        "sitrep-worker",
        ("worker",),
        frozenset({"/healthz", "/livez"}),
        "/healthz",
        "streams/app.py",
        '("{path}", ',
        ("worker", "web_port"),
        ("worker", "web_host"),
    ),
    "index": Role(
        "Deployment",
        "sitrep-index",
        ("index",),
        frozenset({"/healthz"}),
        "/healthz",
        "sitrep/monitoring.py",
        '"{path}": ',
        ("indexer", "metrics_port"),
        ("indexer", "metrics_host"),
    ),
    "notify": Role(
        "Deployment",
        "sitrep-notify",
        ("notify", "run"),
        frozenset({"/healthz"}),
        "/healthz",
        "sitrep/monitoring.py",
        '"{path}": ',
        ("notify", "metrics_port"),
        ("notify", "metrics_host"),
    ),
    "serve": Role(
        "Deployment",
        "sitrep-serve",
        ("serve",),
        frozenset({"/healthz"}),
        "/healthz",
        "sinks/web/app.py",
        '@app.get("{path}"',
        ("web", "port"),
        ("web", "host"),
    ),
}


def workload(role: Role) -> dict[str, Any]:
    return one(role.kind, role.name)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"])


def main_container(doc: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(doc)["containers"]
    assert len(containers) == 1, f"{doc['metadata']['name']}: one container per pod"
    return dict(containers[0])


def all_workloads() -> list[dict[str, Any]]:
    return [doc for kind in WORKLOAD_KINDS for doc in objects(kind)]


def container_environment(container: dict[str, Any]) -> dict[str, str]:
    """The environment a container gets, Secrets taken from their templates."""
    secrets = secret_templates()
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmap_data(source["configMapRef"]["name"]))
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def settings_of(env: dict[str, str]) -> Settings:
    """sitrep's Settings from exactly these variables (no other SITREP_*, no .env file)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SITREP_")]:
            patch.delenv(name)
        for name, value in env.items():
            if name.startswith("SITREP_"):
                patch.setenv(name, value)
        return Settings(_env_file=None)


def setting_path(name: str) -> tuple[str, ...] | None:
    """The field path in Settings that SITREP_A__B names, or None if it names none."""
    if not name.startswith("SITREP_"):
        return None
    parts = tuple(name.removeprefix("SITREP_").lower().split("__"))
    model: type[BaseModel] = Settings
    for position, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return None
        if position < len(parts) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            model = annotation
    return parts


def parsed_as_given(settings: Settings, path: tuple[str, ...], text: str) -> bool:
    """Whether the setting at ``path`` holds what the environment variable said."""
    value = reduce(getattr, path, settings)
    if isinstance(value, SecretStr):
        return value.get_secret_value() == text
    if isinstance(value, bool):
        return str(value).lower() == text.lower()
    if isinstance(value, int | float):
        return float(value) == float(text)
    if isinstance(value, tuple):
        return list(value) == json.loads(text)
    return str(value) == text


def role_settings(doc: dict[str, Any]) -> Settings:
    return settings_of(container_environment(main_container(doc)))


def volume_of(doc: dict[str, Any], mount: dict[str, Any]) -> dict[str, Any]:
    volumes = {v["name"]: v for v in pod_spec(doc).get("volumes", [])}
    claims = {c["metadata"]["name"]: c for c in doc["spec"].get("volumeClaimTemplates", [])}
    if mount["name"] in volumes:
        return dict(volumes[mount["name"]])
    assert mount["name"] in claims, f"{doc['metadata']['name']}: no volume {mount['name']}"
    return {"name": mount["name"], "persistentVolumeClaim": claims[mount["name"]]}


def mounts_at(doc: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    return [m for m in main_container(doc)["volumeMounts"] if Path(m["mountPath"]) == path]


# --- schemas for kubeconform ----------------------------------------------------------------


def kubeconform_binary() -> Path:
    """The installed kubeconform; its absence fails the test (never a skip)."""
    if not (KUBECONFORM.is_file() and os.access(KUBECONFORM, os.X_OK)):
        pytest.fail(f"kubeconform is missing at {KUBECONFORM}: {INSTALL_HINT}", pytrace=False)
    return KUBECONFORM


def kubernetes_schema_dirs() -> dict[str, Path]:
    """`<version>` -> the strict schema folder kubernetes-validate ships for it (empty when
    the package is missing; the fixture below fails then)."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError:
        return {}
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    found = {}
    for folder in base.glob("v*-local-strict"):
        version = folder.name.removeprefix("v").removesuffix("-local-strict")
        found[version] = folder
    return found


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def kubernetes_versions() -> list[str]:
    available = sorted(kubernetes_schema_dirs(), key=version_key)
    return [OLDEST_KUBERNETES, available[-1]] if available else [OLDEST_KUBERNETES]


@pytest.fixture(scope="session")
def kubernetes_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped schemas, made loadable from files: they refer to their shared definitions
    as `/api/_definitions.json` under an https `$id`, which kubeconform would fetch from the
    network; here the references point at the file beside them."""
    dirs = kubernetes_schema_dirs()
    if not dirs:
        pytest.fail(
            "the PyPI package kubernetes-validate (dev extra) is missing: pip install -e '.[dev]'",
            pytrace=False,
        )
    if OLDEST_KUBERNETES not in dirs:
        pytest.fail(f"kubernetes-validate has no schemas for {OLDEST_KUBERNETES}", pytrace=False)
    target = tmp_path_factory.mktemp("kubernetes-json-schema")
    for version in kubernetes_versions():
        out = target / f"v{version}-local-strict"
        out.mkdir()
        for source in dirs[version].glob("*.json"):
            text = source.read_text(encoding="utf-8")
            text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
            schema = json.loads(text)
            schema.pop("$id", None)
            (out / source.name).write_text(json.dumps(schema), encoding="utf-8")
    return target


def openapi_to_json_schema(node: Any) -> Any:
    """A CRD's openAPIV3Schema as JSON schema, strict: objects with declared properties refuse
    others (unless x-kubernetes-preserve-unknown-fields), `nullable` becomes a null type."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "properties" in out:
        out["properties"] = {k: openapi_to_json_schema(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = openapi_to_json_schema(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = openapi_to_json_schema(out["items"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in out:
            out[keyword] = [openapi_to_json_schema(s) for s in out[keyword]]
    if "not" in out:
        out["not"] = openapi_to_json_schema(out["not"])
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def crd_schemas(crd: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(group, kind, version, JSON schema) of every version of a CustomResourceDefinition."""
    spec = crd["spec"]
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None:
            converted = openapi_to_json_schema(copy.deepcopy(schema))
            yield spec["group"], spec["names"]["kind"], version["name"], converted


@pytest.fixture(scope="session")
def eck_crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ECK's CRDs from its Go module (module cache, not the repository) as JSON schemas in
    kubeconform's `{group}/{kind}_{version}.json` layout."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"go is needed to fetch the ECK CRDs ({ECK_MODULE})", pytrace=False)
    done = subprocess.run(
        [go, "mod", "download", "-json", ECK_MODULE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path_factory.mktemp("go"),
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode or "Dir" not in info:
        pytest.fail(
            f"go mod download {ECK_MODULE} failed: {info.get('Error') or done.stderr}",
            pytrace=False,
        )
    crds = [d for d in yaml.safe_load_all(Path(info["Dir"], ECK_CRDS).read_text()) if d]
    target = tmp_path_factory.mktemp("crd-schemas")
    for crd in crds:
        for group, kind, version, schema in crd_schemas(crd):
            path = target / group / f"{kind.lower()}_{version}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema), encoding="utf-8")
    return target


def run_kubeconform(
    binary: Path, version: str, kubernetes: Path, crds: Path, *paths: Path
) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            str(binary),
            "-strict",
            "-summary",
            "-verbose",
            "-output",
            "json",
            "-n",
            "2",
            "-kubernetes-version",
            version,
            "-schema-location",
            f"{kubernetes}/{{{{ .NormalizedKubernetesVersion }}}}-local{{{{ .StrictSuffix }}}}"
            "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location",
            f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            "-skip",
            ",".join(STRIMZI_KINDS),
            "-ignore-filename-pattern",
            r"kustomization\.yaml$",
            *(str(p) for p in paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout, f"kubeconform printed nothing: {done.stderr}"
    return list(json.loads(done.stdout)["resources"])


# --- kubeconform ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", kubernetes_versions())
def test_every_manifest_is_valid_for_kubernetes_and_the_eck_crds(
    version: str, kubernetes_schemas: Path, eck_crd_schemas: Path
) -> None:
    kubeconform = kubeconform_binary()
    results = run_kubeconform(kubeconform, version, kubernetes_schemas, eck_crd_schemas, K8S)
    bad = [r for r in results if r["status"] not in ("statusValid", "statusSkipped")]
    assert not bad, "\n".join(f"{r['filename']}: {r['kind']} {r['name']}: {r['msg']}" for r in bad)
    seen = {(Path(r["filename"]).resolve(), r["kind"], r["name"]): r["status"] for r in results}
    expected = {
        (path, doc["kind"], doc["metadata"]["name"]): (
            "statusSkipped" if doc["kind"] in STRIMZI_KINDS else "statusValid"
        )
        for path in manifest_files()
        for doc in documents(path)
    }
    assert seen == expected
    # Validated against ECK's own CRDs, not skipped:
    assert {kind for (_, kind, _), s in seen.items() if s == "statusValid"} >= {
        "Elasticsearch",
        "Kibana",
    }


def test_kubeconform_rejects_unknown_fields_with_these_schemas(
    kubernetes_schemas: Path, eck_crd_schemas: Path, tmp_path: Path
) -> None:
    kubeconform = kubeconform_binary()
    deployment = copy.deepcopy(workload(ROLES["serve"]))
    main_container(deployment)["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    elasticsearch = copy.deepcopy(one("Elasticsearch", "sitrep-es"))
    elasticsearch["spec"]["nodeSets"][0]["cuont"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([deployment, elasticsearch]), encoding="utf-8")
    results = run_kubeconform(
        kubeconform, kubernetes_versions()[-1], kubernetes_schemas, eck_crd_schemas, bad
    )
    assert {(r["kind"], r["status"]) for r in results} == {
        ("Deployment", "statusInvalid"),
        ("Elasticsearch", "statusInvalid"),
    }
    messages = " ".join(r["msg"] for r in results)
    assert "paht" in messages and "cuont" in messages


# --- layout ---------------------------------------------------------------------------------


def test_kustomizations_list_their_manifests_and_nothing_with_placeholders() -> None:
    for folder in (K8S, K8S / "examples" / "strimzi", K8S / "examples" / "eck"):
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
        present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(listed["resources"]) == present, folder
    names = [
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in base_objects()
    ]
    assert len(names) == len(set(names)), "an object is defined twice"
    for doc in objects():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "sitrep", doc["metadata"]["name"]
    for doc in base_objects():
        assert doc["kind"] != "Secret", "Secrets (templates) are never applied with -k"


def test_generated_configmaps_equal_the_repository_files() -> None:
    done = subprocess.run(
        [sys.executable, str(K8S / "sync-configmaps.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    carried = {
        "sitrep-rules": sorted((ROOT / "rules").glob("*.yaml")),
        "sitrep-sites": sorted((ROOT / "rules" / "sites").glob("*.yaml")),
        "sitrep-scoring": [ROOT / "streams" / "config" / "scoring.yaml"],
        "sitrep-notify-channels": [ROOT / "deploy" / "notify" / "channels.yaml"],
    }
    for name, files in carried.items():
        assert files, name
        assert configmap_data(name) == {f.name: f.read_text(encoding="utf-8") for f in files}


def test_mounted_rules_scoring_and_channels_load_with_sitreps_own_loaders(
    tmp_path: Path,
) -> None:
    """What the pods see at the configured paths: the ConfigMaps, written out as the kubelet
    mounts them, read by the loaders the roles use at start."""
    from schemas.registry import default_registry
    from sinks.notify.config import parse_channels
    from streams.rules.model import load_rules
    from streams.rules.sites import load_sites
    from streams.scoring import load_scoring_config

    registry = default_registry()
    worker = workload(ROLES["worker"])
    settings = role_settings(worker)
    assert settings.worker.scoring_config is not None
    mounted = {
        settings.worker.rules_dir: "sitrep-rules",
        settings.worker.sites_dir: "sitrep-sites",
        settings.worker.scoring_config.parent: "sitrep-scoring",
    }
    seen = {}
    for role_name in ("worker", "serve"):  # the web shows the rules in force (admin API)
        doc = workload(ROLES[role_name])
        for path, configmap in mounted.items():
            if role_name == "serve" and configmap == "sitrep-scoring":
                continue
            (mount,) = mounts_at(doc, Path(str(path)))
            assert volume_of(doc, mount)["configMap"]["name"] == configmap, (role_name, path)
            folder = tmp_path / configmap
            folder.mkdir(exist_ok=True)
            for name, text in configmap_data(configmap).items():
                (folder / name).write_text(text, encoding="utf-8")
            seen[configmap] = folder
    assert len(load_rules(seen["sitrep-rules"], registry, settings.province_code)) > 0
    assert len(load_sites(seen["sitrep-sites"]).sites) > 0
    load_scoring_config(seen["sitrep-scoring"] / settings.worker.scoring_config.name, registry)
    notify_doc = workload(ROLES["notify"])
    notify = role_settings(notify_doc)
    (mount,) = mounts_at(notify_doc, notify.notify.channels_file.parent)
    assert volume_of(notify_doc, mount)["configMap"]["name"] == "sitrep-notify-channels"
    channels = configmap_data("sitrep-notify-channels")[notify.notify.channels_file.name]
    assert parse_channels(channels).channels


# --- each role ------------------------------------------------------------------------------


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_probes_ask_the_real_health_endpoint_on_the_port_the_role_listens_on(
    role_name: str,
) -> None:
    role = ROLES[role_name]
    doc = workload(role)
    container = main_container(doc)
    settings = role_settings(doc)
    # The endpoints exist in the code of the role.
    source = (ROOT / role.source).read_text(encoding="utf-8")
    for path in role.health_paths:
        assert role.route_pattern.format(path=path) in source, f"{path} not in {role.source}"
    # The role listens on the pod's address and on the port the container declares.
    assert role.host(settings) in ("0.0.0.0", "::"), f"{role_name} would listen on loopback only"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert role.port(settings) in ports.values()
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(kind)
        if probe is None and kind == "startupProbe":
            continue
        assert probe is not None, f"{role_name}: no {kind}"
        get = probe["httpGet"]
        port = ports.get(get["port"], get["port"])
        assert port == role.port(settings), f"{role_name} {kind} on port {port}"
        assert get["path"] in role.health_paths, f"{role_name} {kind} on {get['path']}"
        assert probe.get("timeoutSeconds", 1) < probe.get("periodSeconds", 10)
    assert container["readinessProbe"]["httpGet"]["path"] == role.readiness_path
    # Probes carry no credentials: only public pages will do.
    from sitrep.monitoring import PUBLIC_PATHS

    assert role.health_paths <= PUBLIC_PATHS, role.health_paths - PUBLIC_PATHS


@pytest.mark.parametrize("role_name", ["worker", "index", "notify"])
def test_roles_behind_monitoring_tokens_read_them_from_their_secret(role_name: str) -> None:
    from sitrep.monitoring import MonitoringFile

    doc = workload(ROLES[role_name])
    path = role_settings(doc).monitoring.tokens_path(Path("/nonexistent-home"))
    assert path.is_absolute() and not path.is_relative_to("/nonexistent-home"), (
        "SITREP_MONITORING__TOKENS_FILE is not set: the tokens would be looked for in the "
        "pod's emptyDir home"
    )
    (mount,) = mounts_at(doc, path.parent)
    volume = volume_of(doc, mount)
    assert volume["secret"]["secretName"] == "sitrep-monitoring"
    assert {"key": "tokens.yaml", "path": path.name} in volume["secret"]["items"]
    # The template is a valid (empty) tokens file: nothing but the health checks answers.
    template = secret_templates()["sitrep-monitoring"]["tokens.yaml"]
    assert MonitoringFile.model_validate(yaml.safe_load(template)).tokens == ()


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_services_point_at_the_probed_port(role_name: str) -> None:
    role = ROLES[role_name]
    labels = workload(role)["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for p in main_container(workload(role))["ports"]}
    for service in objects("Service"):
        selector = service["spec"]["selector"]
        if selector.items() <= labels.items():
            assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    if role_name in ("intake", "serve"):
        assert any(
            s["spec"]["selector"].items() <= labels.items() and s["spec"].get("clusterIP") != "None"
            for s in objects("Service")
        ), f"{role_name} has no Service"


@pytest.mark.parametrize(
    "doc", all_workloads(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_workload_runs_a_real_sitrep_subcommand_from_the_sitrep_image(doc: dict[str, Any]) -> None:
    from sitrep.cli import main

    container = main_container(doc)
    assert "command" not in container, "the image's ENTRYPOINT is `sitrep`"
    image = container["image"].rsplit(":", 1)[0]
    assert image == "sitrep", container["image"]
    args = list(container["args"])
    group: click.Command = main
    context = click.Context(main, info_name="sitrep")
    used: list[str] = []
    while isinstance(group, click.Group) and args and not args[0].startswith("-"):
        name = args.pop(0)
        command = group.get_command(context, name)
        assert command is not None, f"`sitrep {' '.join([*used, name])}` is no command"
        used.append(name)
        context = click.Context(command, info_name=name, parent=context)
        group = command
    assert not isinstance(group, click.Group), f"`sitrep {' '.join(used)}` needs a subcommand"
    group.make_context(used[-1], args, parent=context.parent)  # options parse
    role = {r.name: r for r in ROLES.values()}.get(doc["metadata"]["name"])
    if role is not None:
        assert tuple(container["args"]) == role.args


@pytest.mark.parametrize(
    "doc", all_workloads(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_workload_is_non_root_read_only_and_limited(doc: dict[str, Any]) -> None:
    spec = pod_spec(doc)
    pod_security = spec.get("securityContext", {})
    assert spec.get("automountServiceAccountToken") is False
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True
        assert security.get("runAsUser", 1) != 0
        assert security.get("allowPrivilegeEscalation") is False
        assert security.get("readOnlyRootFilesystem") is True
        assert security.get("capabilities", {}).get("drop") == ["ALL"]
        assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            request, limit = resources["requests"][kind], resources["limits"][kind]
            assert quantity(request) <= quantity(limit), f"{kind} request above its limit"
        mounts = {Path(m["mountPath"]): m for m in container["volumeMounts"]}
        assert "emptyDir" in volume_of(doc, mounts[Path("/tmp")]), "/tmp must be writable"
        # Only data directories are writable; configuration and secrets are read-only.
        for path, mount in mounts.items():
            volume = volume_of(doc, mount)
            if "configMap" in volume or "secret" in volume:
                assert mount.get("readOnly") is True, path
    used = {m["name"] for c in spec["containers"] for m in c["volumeMounts"]}
    assert {v["name"] for v in spec.get("volumes", [])} <= used, "a volume nobody mounts"


@pytest.mark.parametrize(
    "doc", all_workloads(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_environment_names_real_settings_that_parse(doc: dict[str, Any]) -> None:
    from sinks.notify.config import parse_channels, resolve_secrets

    env = container_environment(main_container(doc))
    settings = settings_of(env)
    channel_secrets: set[str] = set()
    if doc["metadata"]["name"] == ROLES["notify"].name:
        text = configmap_data("sitrep-notify-channels")[settings.notify.channels_file.name]
        config = parse_channels(text)
        channel_secrets = {
            v for c in config.channels.values() for v in c.secret_envs().values() if v
        }
        resolve_secrets(config, env)  # every secret a channel names is set
    for name, value in env.items():
        if name in PLAIN_ENV or name in channel_secrets:
            continue
        path = setting_path(name)
        assert path is not None, f"{name} is no sitrep setting"
        assert parsed_as_given(settings, path, value), f"{name}={value!r} did not parse as given"
    # The home is writable (state of the role) and the Kafka password reaches the clients.
    home = mounts_at(doc, settings.home)
    assert home and not home[0].get("readOnly"), f"nothing writable at {settings.home}"
    if settings.kafka.uses_sasl:
        assert settings.kafka.client_options().get("sasl_plain_password")
    # Every role talks to Kafka; the indexer and the web service also to Elasticsearch.
    ca_files = [settings.kafka.ssl_cafile]
    if doc["metadata"]["name"] in (ROLES["index"].name, ROLES["serve"].name):
        ca_files.append(settings.elasticsearch.ca_certs)
    for file_setting in ca_files:
        if file_setting is not None:
            (mount,) = mounts_at(doc, file_setting.parent)
            assert file_setting.name in {
                i["path"] for i in volume_of(doc, mount)["secret"].get("items", [])
            }


def test_every_secret_key_a_workload_reads_has_a_template() -> None:
    templates = secret_templates()
    used: set[tuple[str, str | None]] = set()
    for doc in all_workloads():
        container = main_container(doc)
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                used.add((ref["name"], ref["key"]))
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                used.add((source["secretRef"]["name"], None))
        for volume in pod_spec(doc).get("volumes", []):
            if "secret" in volume:
                for item in volume["secret"].get("items", []):
                    used.add((volume["secret"]["secretName"], item["key"]))
    for name, key in sorted(used, key=str):
        assert name in templates, f"Secret {name} has no template"
        assert key is None or key in templates[name], f"Secret {name} has no key {key}"
    # Placeholders are marked; only user and role names are plain.
    plain = {("sitrep-es-user", "username"), ("sitrep-es-user", "roles")}
    for name, data in templates.items():
        for key, value in data.items():
            if (name, key) not in plain:
                assert "CHANGE-ME" in value, f"{name}.{key} is not marked as a placeholder"


# --- the worker -----------------------------------------------------------------------------


def test_worker_keeps_its_stores_on_a_volume_of_its_own() -> None:
    from streams.app import data_dir

    doc = workload(ROLES["worker"])
    settings = role_settings(doc)
    assert settings.worker.store == "rocksdict"
    stores = data_dir(settings)
    claims = {c["metadata"]["name"] for c in doc["spec"]["volumeClaimTemplates"]}
    holding = [
        m
        for m in main_container(doc)["volumeMounts"]
        if m["name"] in claims and stores.is_relative_to(m["mountPath"])
    ]
    assert len(holding) == 1, f"no volumeClaimTemplate mounted above {stores}"
    assert not holding[0].get("readOnly")
    assert doc["spec"]["podManagementPolicy"] == "Parallel"
    assert "replicas" not in doc["spec"], "the HPA owns the replica count"


def test_worker_autoscaler_stays_within_the_partitions_of_the_reports_topic() -> None:
    (hpa,) = objects("HorizontalPodAutoscaler")
    doc = workload(ROLES["worker"])
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (doc["kind"], doc["metadata"]["name"])
    settings = role_settings(doc)
    (reports,) = [
        t
        for t in objects("KafkaTopic")
        if t["spec"].get("topicName") == settings.kafka.topics.reports
    ]
    partitions = min(settings.kafka.partitions, reports["spec"]["partitions"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    text = (K8S / "worker.yaml").read_text(encoding="utf-8")
    assert re.search(r"# maxReplicas <= the partitions of sitrep\.reports", text)


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_each_role_has_a_disruption_budget_that_allows_drains(role_name: str) -> None:
    doc = workload(ROLES[role_name])
    labels = doc["spec"]["template"]["metadata"]["labels"]
    budgets = [
        b
        for b in objects("PodDisruptionBudget")
        if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(budgets) == 1, f"{role_name}: {len(budgets)} PodDisruptionBudgets"
    spec = budgets[0]["spec"]
    if "maxUnavailable" in spec:
        assert int(spec["maxUnavailable"]) >= 1
    else:
        assert int(spec["minAvailable"]) < doc["spec"].get("replicas", 1)


# --- Strimzi (structure only: no registry ships its CRDs) -----------------------------------


STRIMZI = K8S / "examples" / "strimzi"


def test_strimzi_resources_are_well_formed() -> None:
    for doc in objects(under=STRIMZI):
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert doc["kind"] in STRIMZI_KINDS
        assert doc["metadata"]["name"] and doc["metadata"]["namespace"] == "sitrep"
        assert isinstance(doc["spec"], dict)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"])
    (kafka,) = objects("Kafka", STRIMZI)
    name = kafka["metadata"]["name"]
    for doc in objects(under=STRIMZI):
        if doc["kind"] != "Kafka":
            assert doc["metadata"]["labels"]["strimzi.io/cluster"] == name
    # KRaft: node pools with controllers and brokers, no ZooKeeper.
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/kraft": "enabled",
        "strimzi.io/node-pools": "enabled",
    }
    assert "zookeeper" not in kafka["spec"]
    roles = {r for pool in objects("KafkaNodePool", STRIMZI) for r in pool["spec"]["roles"]}
    assert roles == {"controller", "broker"}


def test_strimzi_cluster_topics_and_user_match_the_settings_of_sitrep() -> None:
    from sitrep.topics import desired_topics
    from streams.app import internal_topics

    settings = role_settings(workload(ROLES["worker"]))
    (kafka,) = objects("Kafka", STRIMZI)
    cluster = kafka["metadata"]["name"]
    assert kafka["spec"]["kafka"]["version"] == settings.stack.kafka_version
    # The address, protocol and CA the pods use are this cluster's.
    (listener,) = [
        item
        for item in kafka["spec"]["kafka"]["listeners"]
        if settings.kafka.bootstrap_servers
        == f"{cluster}-kafka-bootstrap.sitrep.svc:{item['port']}"
    ]
    assert listener["tls"] is True and settings.kafka.security_protocol == "SASL_SSL"
    assert listener["authentication"]["type"] == "scram-sha-512"
    assert settings.kafka.sasl_mechanism == "SCRAM-SHA-512"
    brokers = sum(p["spec"]["replicas"] for p in objects("KafkaNodePool", STRIMZI))
    assert settings.kafka.replication_factor <= brokers
    for doc in all_workloads():
        container = main_container(doc)
        refs = {
            item["name"]: item["valueFrom"]["secretKeyRef"]
            for item in container.get("env", [])
            if "valueFrom" in item
        }
        user = one("KafkaUser", str(settings.kafka.sasl_username))
        assert refs["SITREP_KAFKA__SASL_PASSWORD"] == {
            "name": user["metadata"]["name"],
            "key": "password",
        }
        assert ca_secret(doc, settings.kafka.ssl_cafile) == f"{cluster}-cluster-ca-cert"
    # The topics are those sitrep's `topics ensure` would make.
    topics = {t["spec"]["topicName"]: t["spec"] for t in objects("KafkaTopic", STRIMZI)}
    wanted = {t.name: t for t in desired_topics(settings.kafka)}
    assert set(topics) == set(wanted)
    for name, spec in topics.items():
        assert spec["partitions"] == wanted[name].partitions, name
        assert spec["replicas"] == wanted[name].replication_factor, name
        assert {k: str(v) for k, v in spec["config"].items()} == dict(wanted[name].configs)
    # The user may do what the roles do.
    user = one("KafkaUser", str(settings.kafka.sasl_username))
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    acls = user["spec"]["authorization"]["acls"]

    def allowed(kind: str, name: str) -> set[str]:
        granted: set[str] = set()
        for acl in acls:
            resource = acl["resource"]
            literal = resource.get("patternType", "literal") == "literal"
            if resource["type"] == kind and (
                resource["name"] == name if literal else name.startswith(resource["name"])
            ):
                granted |= set(acl["operations"])
        return granted

    for name in wanted:
        assert allowed("topic", name) >= {"Describe", "Read", "Write"}, name
    for spec in internal_topics(settings, settings.kafka.partitions):
        assert allowed("topic", spec.name) >= {
            "Create",
            "Describe",
            "DescribeConfigs",
            "AlterConfigs",
            "Read",
            "Write",
        }, spec.name
    for group in (settings.worker.app_id, settings.indexer.group_id, settings.notify.group_id):
        assert allowed("group", group) >= {"Read"}, group


def ca_secret(doc: dict[str, Any], ca_file: Path | None) -> str:
    assert ca_file is not None
    (mount,) = mounts_at(doc, ca_file.parent)
    return str(volume_of(doc, mount)["secret"]["secretName"])


# --- ECK (validated against its CRDs above) --------------------------------------------------


def test_eck_cluster_and_user_match_the_settings_of_sitrep() -> None:
    from sitrep.stack.elasticsearch import ES_VERSION

    (elasticsearch,) = objects("Elasticsearch")
    (kibana,) = objects("Kibana")
    name = elasticsearch["metadata"]["name"]
    assert elasticsearch["spec"]["version"] == kibana["spec"]["version"] == ES_VERSION
    assert kibana["spec"]["elasticsearchRef"]["name"] == name
    nodes = sum(n["count"] for n in elasticsearch["spec"]["nodeSets"])
    (user_secret,) = [r["secretName"] for r in elasticsearch["spec"]["auth"]["fileRealm"]]
    (roles_secret,) = [r["secretName"] for r in elasticsearch["spec"]["auth"]["roles"]]
    roles_doc = one("Secret", roles_secret)
    roles = yaml.safe_load(roles_doc["stringData"]["roles.yml"])
    user = secret_templates()[user_secret]
    (template,) = [
        d
        for d in documents(K8S / "secrets" / "secrets.template.yaml")
        if d["metadata"]["name"] == user_secret
    ]
    assert template["type"] == "kubernetes.io/basic-auth"
    (role,) = user["roles"].split(",")
    for role_name in ("index", "serve"):
        doc = workload(ROLES[role_name])
        settings = role_settings(doc)
        assert settings.elasticsearch.url == f"https://{name}-es-http.sitrep.svc:9200"
        assert ca_secret(doc, settings.elasticsearch.ca_certs) == f"{name}-es-http-certs-public"
        refs = {
            item["name"]: item["valueFrom"]["secretKeyRef"]
            for item in main_container(doc).get("env", [])
            if "valueFrom" in item
        }
        assert refs["SITREP_ELASTICSEARCH__USERNAME"] == {"name": user_secret, "key": "username"}
        assert refs["SITREP_ELASTICSEARCH__PASSWORD"] == {"name": user_secret, "key": "password"}
        prefix = settings.indexer.index_prefix
        names = {n for i in roles[role]["indices"] for n in i["names"]}
        assert f"{prefix}-*" in names
        assert settings.indexer.replicas < nodes
