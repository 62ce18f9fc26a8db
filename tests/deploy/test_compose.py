"""deploy/compose/compose.yaml, the Dockerfile and the image's health check, without a Docker
engine.

The compose file is rendered by Docker Compose itself (`docker-compose config`, a standalone
binary built by deploy/compose/install-compose.sh into .tools/bin/) with .env.example, and the
result is checked the way a user would check it, then validated against the Compose
specification's JSON schema that compose-go (the library Compose parses with) ships: loaded from
the Go module cache (`go env GOMODCACHE`), the version the binary was built with.

Nothing here is skipped: without the binary, Go or the schema the tests fail and say what to run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
INSTALL_SCRIPT = COMPOSE_DIR / "install-compose.sh"
COMPOSE_BINARY = ROOT / ".tools" / "bin" / "docker-compose"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HEALTHCHECK_SCRIPT = ROOT / "deploy" / "docker" / "healthcheck.py"
SITREP = Path(sys.executable).with_name("sitrep")

INSTALL_HINT = f"run {INSTALL_SCRIPT.relative_to(ROOT)} (builds Docker Compose into .tools/bin/)"

# The long-running roles: the subcommand that starts each, and the setting naming its port.
ROLES = {
    "intake": (("intake", "serve"), "SITREP_INTAKE__PORT"),
    "worker": (("worker",), "SITREP_WORKER__WEB_PORT"),
    "index": (("index",), "SITREP_INDEXER__METRICS_PORT"),
    "notify": (("notify",), "SITREP_NOTIFY__METRICS_PORT"),
    "serve": (("serve",), "SITREP_WEB__PORT"),
}
# Environment keys whose values are secrets: they must come from the environment (.env).
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|ENCRYPTIONKEY|API_KEY|_URL$", re.IGNORECASE)
# Secret-looking keys whose values are not secrets.
NOT_SECRET = {
    "SITREP_ELASTICSEARCH__URL",
    "KIBANA_PUBLIC_URL",
    "SERVER_PUBLICBASEURL",
    "SITREP_ELASTICSEARCH__USERNAME",
}
# `${NAME}`, `${NAME:?message}` or `${NAME:-}`: never a default value that would be a secret.
ONE_INTERPOLATION = re.compile(r"^\$\{[A-Z][A-Z0-9_]*(?::?\?[^}]*|:?-)?\}$")


# --- rendering ----------------------------------------------------------------------------------


def _compose_binary() -> Path:
    if not os.access(COMPOSE_BINARY, os.X_OK):
        pytest.fail(f"Docker Compose is not installed at {COMPOSE_BINARY}: {INSTALL_HINT}")
    return COMPOSE_BINARY


def _clean_env() -> dict[str, str]:
    """Only what the binary needs: nothing of the caller's environment may override .env."""
    return {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}


@cache
def _render(*profiles: str) -> dict[str, Any]:
    command = [str(_compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE)]
    for profile in profiles:
        command += ["--profile", profile]
    command += ["config", "--format", "json"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=_clean_env(), timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{shlex.join(command)} failed:\n{done.stderr}")
    rendered: dict[str, Any] = json.loads(done.stdout)
    return rendered


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    """The rendered project with every profile (the demo's services included)."""
    return _render("demo")


@pytest.fixture(scope="module")
def default_project() -> dict[str, Any]:
    """The rendered project as `docker compose up` (no profile) starts it."""
    return _render()


@cache
def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _sitrep_image() -> str:
    return _env_example()["SITREP_IMAGE"]


def _sitrep_services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in project["services"].items()
        if service.get("image") == _sitrep_image()
    }


def _sitrep_command_lines(service: dict[str, Any]) -> list[list[str]]:
    """The sitrep argument lists a service runs: its command (entrypoint `sitrep`), or every
    `sitrep ...` in the script of a shell entrypoint."""
    entrypoint = service.get("entrypoint") or []
    command = service.get("command") or []
    if not entrypoint:
        return [list(command)]
    assert entrypoint[:2] == ["/bin/sh", "-c"], f"unexpected entrypoint {entrypoint}"
    script = " ".join(command)
    lines = []
    for part in re.split(r"&&|\|\||;|\|", script):
        words = shlex.split(part)
        if words and words[0] == "exec":
            words = words[1:]
        if words and words[0] == "sitrep":
            lines.append(words[1:])
    return lines


def _role_services(project: dict[str, Any], role: str) -> list[str]:
    words, _ = ROLES[role]
    found = []
    for name, service in _sitrep_services(project).items():
        for args in _sitrep_command_lines(service):
            if tuple(args[: len(words)]) == words:
                found.append(name)
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def _named_volume_for(
    project: dict[str, Any], service: dict[str, Any], path: str
) -> dict[str, Any] | None:
    """The named-volume mount that holds ``path`` in the service's container, if any (of
    nested mounts the innermost, as in the container)."""
    holding = [
        mount
        for mount in service.get("volumes") or []
        if path == mount["target"].rstrip("/") or path.startswith(mount["target"].rstrip("/") + "/")
    ]
    if not holding:
        return None
    mount = max(holding, key=lambda m: len(m["target"].rstrip("/")))
    if (
        mount.get("type") == "volume"
        and mount.get("source") in (project.get("volumes") or {})
        and not mount.get("read_only")
    ):
        return dict(mount)
    return None


# --- the rendered project -----------------------------------------------------------------------


def test_compose_file_renders(project: dict[str, Any], default_project: dict[str, Any]) -> None:
    assert project["name"] == "sitrep"
    assert {"kafka", "elasticsearch", "kibana", "init"} <= set(default_project["services"])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role_runs_from_the_sitrep_image(role: str, default_project: dict[str, Any]) -> None:
    services = _role_services(default_project, role)
    assert len(services) == 1, f"role {role}: services {services} (want exactly one)"
    service = default_project["services"][services[0]]
    assert service["image"] == _sitrep_image()
    assert service.get("restart") in ("unless-stopped", "always")


def test_the_image_is_built_from_the_repository_dockerfile(project: dict[str, Any]) -> None:
    builds = [s["build"] for s in _sitrep_services(project).values() if s.get("build")]
    assert builds, "no sitrep service builds the image (docker compose build would not work)"
    for build in builds:
        assert Path(build["context"]) == ROOT
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"


@pytest.mark.parametrize("profiles", [(), ("demo",)], ids=["default", "demo"])
def test_every_service_has_a_healthcheck(profiles: tuple[str, ...]) -> None:
    for name, service in _render(*profiles)["services"].items():
        check = service.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"
        assert len(check["test"]) > 1, f"{name}: empty healthcheck"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_healthcheck_asks_the_role_on_its_port(
    role: str, default_project: dict[str, Any]
) -> None:
    (name,) = _role_services(default_project, role)
    service = default_project["services"][name]
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "sitrep-healthcheck"], f"{name}: {test}"
    _, port_setting = ROLES[role]
    port = _environment(service)[port_setting]
    # Never /metrics: it needs a monitoring token, which a health check does not carry.
    assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/(healthz|readyz)", test[2]), test


def test_every_service_has_resource_limits(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        limits = (service.get("deploy") or {}).get("resources", {}).get("limits") or {}
        assert int(limits.get("memory", 0)) > 0, f"{name}: no memory limit"
        assert float(limits.get("cpus", 0)) > 0, f"{name}: no cpu limit"


def test_dependencies_wait_for_health_or_completion(project: dict[str, Any]) -> None:
    services = project["services"]
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            condition = how.get("condition")
            if services[dependency].get("restart") == "no":
                assert condition == "service_completed_successfully", f"{name} -> {dependency}"
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}: {condition}"
    for role in ROLES:
        (name,) = _role_services(project, role)
        needs = services[name].get("depends_on") or {}
        assert needs.get("init", {}).get("condition") == "service_completed_successfully", name
        assert needs.get("kafka", {}).get("condition") == "service_healthy", name


def test_init_creates_topics_and_index_templates(project: dict[str, Any]) -> None:
    lines = _sitrep_command_lines(project["services"]["init"])
    assert ["topics", "ensure"] in lines
    assert ["es", "setup"] in lines
    assert project["services"]["init"]["restart"] == "no"


def test_state_lives_on_named_volumes(project: dict[str, Any]) -> None:
    services = project["services"]
    (worker,) = _role_services(project, "worker")
    data_dir = _environment(services[worker])["SITREP_WORKER__DATA_DIR"]
    assert _named_volume_for(project, services[worker], data_dir), (
        f"worker state {data_dir} is not on a named volume"
    )
    kafka_dir = _environment(services["kafka"])["KAFKA_LOG_DIRS"]
    assert _named_volume_for(project, services["kafka"], kafka_dir), "Kafka data"
    es_dir = "/usr/share/elasticsearch/data"
    assert _named_volume_for(project, services["elasticsearch"], es_dir), "Elasticsearch data"


def test_worker_indexer_and_notifier_share_one_monitoring_tokens_file(
    project: dict[str, Any],
) -> None:
    """Their pages need a monitoring token (docs/security.md): the three read the same tokens
    file, on a named volume that `docker compose run --rm indexer monitoring token add`
    writes to."""
    from sitrep.settings import MonitoringSettings

    services = project["services"]
    sources = set()
    for role in ("worker", "index", "notify"):
        (name,) = _role_services(project, role)
        env = _environment(services[name])
        home = Path(env.get("SITREP_HOME", "/var/lib/sitrep"))  # the image's SITREP_HOME
        tokens = env.get("SITREP_MONITORING__TOKENS_FILE")
        path = str(MonitoringSettings(tokens_file=tokens).tokens_path(home))
        mount = _named_volume_for(project, services[name], path)
        assert mount, f"{name}: monitoring tokens {path} not on a named volume"
        sources.add(mount["source"])
    assert len(sources) == 1, sources


def test_elasticsearch_has_security_on(project: dict[str, Any]) -> None:
    services = project["services"]
    es = _environment(services["elasticsearch"])
    assert es["xpack.security.enabled"] == "true"
    assert es["xpack.security.http.ssl.enabled"] == "true"
    assert es["ELASTIC_PASSWORD"] == _env_example()["ELASTIC_PASSWORD"]
    assert "ports" not in services["elasticsearch"], "Elasticsearch published to the host"
    assert "ports" not in services["kafka"], "Kafka published to the host"
    for name, service in _sitrep_services(project).items():
        env = _environment(service)
        assert env["SITREP_ELASTICSEARCH__URL"].startswith("https://"), name
        assert env["SITREP_ELASTICSEARCH__USERNAME"] == "sitrep", name
        assert env["SITREP_ELASTICSEARCH__PASSWORD"] == _env_example()["SITREP_ES_PASSWORD"]
        assert "SITREP_ELASTICSEARCH__VERIFY_CERTS" not in env, f"{name}: certificate checks off"
        ca = env["SITREP_ELASTICSEARCH__CA_CERTS"]
        mounts = [m for m in service.get("volumes") or [] if ca.startswith(m["target"] + "/")]
        assert mounts and all(m.get("read_only") for m in mounts), f"{name}: CA not mounted"
    kibana = _environment(services["kibana"])
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana["ELASTICSEARCH_PASSWORD"] == _env_example()["KIBANA_PASSWORD"]
    assert json.loads(kibana["ELASTICSEARCH_HOSTS"])[0].startswith("https://")


def test_published_ports_bind_to_the_configured_address(project: dict[str, Any]) -> None:
    address = _env_example()["SITREP_PUBLISH_ADDRESS"]
    assert address == "127.0.0.1", ".env.example should publish on the loopback only"
    for name, service in project["services"].items():
        for port in service.get("ports") or []:
            assert port.get("host_ip") == address, f"{name}: {port}"


def test_web_is_not_anonymous_by_default(project: dict[str, Any]) -> None:
    (web,) = _role_services(project, "serve")
    assert _environment(project["services"][web])["SITREP_WEB__ANONYMOUS_ROLE"] == "none"


def test_no_secret_literal_in_the_compose_file() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    problems: list[str] = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{where}.{key}"
                if (
                    isinstance(key, str)
                    and SECRET_KEY.search(key)
                    and key not in NOT_SECRET
                    and not isinstance(value, dict | list)
                    and not ONE_INTERPOLATION.match(str(value))
                ):
                    problems.append(f"{here}: {value!r} is not taken from the environment")
                visit(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, f"{where}[{index}]")

    visit(raw, "compose.yaml")
    assert not problems, "\n".join(problems)
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for key, value in _env_example().items():
        if SECRET_KEY.search(key) and key not in NOT_SECRET and value:
            assert value not in text, f"the value of {key} from .env.example is in compose.yaml"


def test_env_file_is_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(COMPOSE_DIR / ".env")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "deploy/compose/.env is not git-ignored"


def test_every_secret_of_the_example_is_a_placeholder() -> None:
    for key, value in _env_example().items():
        if SECRET_KEY.search(key) and key not in NOT_SECRET and value:
            assert value.startswith("change-me"), f"{key} in .env.example looks like a secret"


def test_demo_profile_runs_the_simulator(
    project: dict[str, Any], default_project: dict[str, Any]
) -> None:
    simulators = [
        name
        for name, service in _sitrep_services(project).items()
        if any(args[:1] == ["simulate"] for args in _sitrep_command_lines(service))
    ]
    assert simulators, "no service of the demo profile runs `sitrep simulate`"
    for name in simulators:
        assert project["services"][name].get("profiles") == ["demo"], name
        assert name not in default_project["services"], f"{name} runs without --profile demo"
        environment = _environment(project["services"][name])
        assert environment["SITREP_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"


@pytest.mark.parametrize("profiles", [(), ("demo",)], ids=["default", "demo"])
def test_rendered_project_matches_the_compose_spec(profiles: tuple[str, ...]) -> None:
    validator = jsonschema.Draft7Validator(_compose_spec_schema())
    errors = sorted(validator.iter_errors(_render(*profiles)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_file_as_written_matches_the_compose_spec() -> None:
    validator = jsonschema.Draft7Validator(_compose_spec_schema())
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@cache
def _compose_spec_schema() -> dict[str, Any]:
    """compose-spec.json of the compose-go version the installed binary was built with."""
    binary = _compose_binary()
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to find the Compose schema in the module cache (go not on PATH)")
    info = subprocess.run(
        [go, "version", "-m", str(binary)], capture_output=True, text=True, check=False
    )
    found = re.search(
        r"^\s*dep\s+(github\.com/compose-spec/compose-go/v2)\s+(\S+)", info.stdout, re.M
    )
    if found is None:
        pytest.fail(f"{binary} names no compose-go dependency:\n{info.stdout}{info.stderr}")
    module, version = found.groups()
    cache_dir = subprocess.run(
        [go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    schema_file = Path(cache_dir) / f"{module}@{version}" / "schema" / "compose-spec.json"
    if not schema_file.is_file():
        pytest.fail(
            f"{schema_file} is missing: run `go mod download {module}@{version}` "
            f"(or remove {binary} and {INSTALL_HINT})"
        )
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


# --- sitrep commands named in the compose file ----------------------------------------------------


def _help(*words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SITREP), *words, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**_clean_env(), "SITREP_HOME": "/nonexistent-sitrep-home"},
    )


def test_every_sitrep_command_in_compose_exists(project: dict[str, Any]) -> None:
    top = _help()
    assert top.returncode == 0, top.stderr
    listed = set(re.findall(r"^  ([a-z][a-z-]*)\s", top.stdout.split("Commands:", 1)[1], re.M))
    seen: set[tuple[str, ...]] = set()
    for service in _sitrep_services(project).values():
        for args in _sitrep_command_lines(service):
            words = tuple(w for w in args[:2] if re.fullmatch(r"[a-z][a-z-]*", w))
            assert words, f"no subcommand in {args}"
            assert words[0] in listed, f"`sitrep {words[0]}` is not in `sitrep --help`"
            seen.add(words)
    for words in sorted(seen):
        done = _help(*words)
        assert done.returncode == 0, f"`sitrep {' '.join(words)}`: {done.stderr}"
    for role, (words, _) in ROLES.items():
        assert any(run[: len(words)] == words for run in seen), f"role {role} is not run"


# --- Dockerfile ---------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_base_images_are_pinned() -> None:
    instructions = _dockerfile_instructions()
    args = {}
    stages: set[str] = set()
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args.setdefault(name, value)
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], words[0])
            if image not in stages:
                name, _, tag = image.partition("@")[0].rpartition(":")
                assert name and tag and "/" not in tag, f"FROM {image}: no tag"
                assert tag != "latest", f"FROM {image}: latest is not a pin"
                assert re.search(r"\d", tag), f"FROM {image}: tag names no version"
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    assert len(stages) >= 2, "not a multi-stage build"


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    instructions = _dockerfile_instructions()
    runtime = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), f"USER {users[-1]}"
    checks = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert checks and "NONE" not in checks[-1].upper().split(), "no HEALTHCHECK"
    assert ("ENTRYPOINT", '["sitrep"]') in runtime
    assert any(keyword == "CMD" for keyword, _ in runtime)


def test_dockerfile_copies_every_package_and_runtime_file() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    include = re.search(r"^include = \[(.*)\]", pyproject, re.M)
    assert include is not None
    packages = [p.strip().strip('"').rstrip("*") for p in include[1].split(",")]
    copied: list[str] = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "COPY" and "--from" not in rest:
            sources = [w for w in shlex.split(rest) if not w.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                copied.append(source.rstrip("/"))
    for package in packages:
        assert package in copied, f"package {package} (pyproject.toml) is not copied"
    for needed in ("rules", "deploy/notify/channels.yaml", "deploy/notify/channels.demo.yaml"):
        assert needed in copied, f"{needed} is read at run time but not in the image"
    allowed = [
        line[1:].strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for source in copied:
        assert any(source == a or source.startswith(a + "/") for a in allowed), (
            f"{source} is not in the allow list of .dockerignore"
        )


# --- the image's health check -------------------------------------------------------------------


def _healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sitrep_healthcheck", HEALTHCHECK_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "env", "url"),
    [
        (["worker"], {}, "http://127.0.0.1:6066/healthz"),
        (["--log-level", "DEBUG", "intake", "serve"], {}, "http://127.0.0.1:8080/readyz"),
        (["intake", "serve", "--port", "9000"], {}, "http://127.0.0.1:9000/readyz"),
        (["index"], {"SITREP_INDEXER__METRICS_PORT": "9200"}, "http://127.0.0.1:9200/healthz"),
        (["notify", "run"], {}, "http://127.0.0.1:9310/healthz"),
        (["notify", "--metrics-port", "0"], {}, None),
        (["notify", "check"], {}, None),
        (["serve"], {"SITREP_WEB__PORT": "8001"}, "http://127.0.0.1:8001/healthz"),
        (["topics", "ensure"], {}, None),
        (["simulate", "pilkada-kaltim-2024"], {}, None),
        (["serve"], {"SITREP_HEALTH_URL": "http://10.0.0.5:8000/healthz"}, None),
    ],
)
def test_healthcheck_url_follows_the_role(
    argv: list[str], env: dict[str, str], url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _healthcheck_module()
    monkeypatch.setattr(module, "_sitrep_argv", lambda: argv)
    monkeypatch.setattr(sys, "argv", ["sitrep-healthcheck"])
    for key in list(os.environ):
        if key.startswith("SITREP_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    expected = env.get("SITREP_HEALTH_URL", url)
    assert module.health_url() == expected


def test_healthcheck_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _healthcheck_module()
    monkeypatch.setenv("SITREP_HEALTH_URL", "http://127.0.0.1:1/healthz")
    monkeypatch.setattr(sys, "argv", ["sitrep-healthcheck", "http://127.0.0.1:2/healthz"])
    assert module.health_url() == "http://127.0.0.1:2/healthz"


def test_healthcheck_fails_on_an_unreachable_role() -> None:
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT), "http://127.0.0.1:9/healthz"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "unhealthy" in done.stderr


# --- the install script ---------------------------------------------------------------------------


def test_install_script_says_what_is_missing_without_go(tmp_path: Path) -> None:
    """On a machine without Go (and without the binary) the script stops with a clear message."""
    script = tmp_path / "deploy" / "compose" / "install-compose.sh"
    script.parent.mkdir(parents=True)
    shutil.copy(INSTALL_SCRIPT, script)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run(
        [bash, str(script)],
        capture_output=True,
        text=True,
        env={"PATH": str(tools)},
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "Go is required" in done.stderr
    assert not (tmp_path / ".tools" / "bin" / "docker-compose").exists()
