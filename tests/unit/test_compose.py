"""Static checks of the deployment files: no Docker engine is needed (or used).

The compose file against the Compose Specification's JSON schema; its commands against the
real `tertulia` CLI parser; its ${VARS} and the settings against .env.example; the
Dockerfile's stages, pins and user.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:]?[-?][^}]*)?\}")
_ENV_LINE = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)
# Read by third-party programs from the environment, not by us: compose itself, Flower.
_THIRD_PARTY_VARS = {"COMPOSE_PROFILES", "FLOWER_BASIC_AUTH"}


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def env_example_names() -> set[str]:
    return set(_ENV_LINE.findall(ENV_EXAMPLE.read_text()))


def cli_subcommands() -> set[str]:
    from tertulia.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("tertulia.cli.build_parser() has no subcommands")


def as_argv(value: Any) -> list[str]:
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def app_services() -> dict[str, dict[str, Any]]:
    """Services that run our image (built from the Dockerfile)."""
    return {name: svc for name, svc in services().items() if "build" in svc}


def run_schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the Compose Specification ------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = run_schema_check(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    # The same check on a file with a misspelt key must fail, or the test above proves nothing.
    broken = tmp_path / "compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    shm_size: 1gb", "    shm_sise: 1gb", 1))
    assert "shm_sise" in broken.read_text()
    result = run_schema_check(broken)
    assert result.returncode != 0


# --- commands exist in the CLI --------------------------------------------------------------


def test_every_app_service_command_is_a_tertulia_subcommand() -> None:
    known = cli_subcommands()
    checked = 0
    for name, svc in app_services().items():
        if "entrypoint" in svc:
            continue  # flower: checked below
        argv = as_argv(svc["command"])
        assert argv[0] in known, f"service {name}: `tertulia {argv[0]}` is not a CLI subcommand ({sorted(known)})"
        checked += 1
    assert checked >= 4  # worker, slack, discord, telegram


def test_every_healthcheck_of_our_image_is_a_tertulia_subcommand() -> None:
    known = cli_subcommands()
    for name, svc in app_services().items():
        test = as_argv(svc["healthcheck"]["test"])
        if test[1] == "tertulia":
            assert test[0] == "CMD"
            assert test[2] in known, f"service {name}: healthcheck `tertulia {test[2]}` is not a CLI subcommand"
            assert "--ready" in test, f"service {name}: the healthcheck should probe /readyz"


def test_the_health_subcommand_parses_the_healthcheck_arguments() -> None:
    from tertulia.health import build_parser

    for svc in app_services().values():
        test = as_argv(svc["healthcheck"]["test"])
        if test[1:3] == ["tertulia", "health"]:
            build_parser().parse_args(test[3:])


def test_flower_runs_our_celery_app() -> None:
    flower = services()["flower"]
    entrypoint = as_argv(flower["entrypoint"])
    assert entrypoint[:2] == ["celery", "-A"]
    module = entrypoint[2]
    assert (REPO / (module.replace(".", "/") + ".py")).is_file()
    assert flower["build"]["target"] in dockerfile_stages()


# --- variables and settings -----------------------------------------------------------------


def compose_variables() -> set[str]:
    # Full-line comments hold the vLLM example; its variables are documented too, but a
    # variable only a comment uses is not required.
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    names = set(_COMPOSE_VAR.findall(text))
    # Bare `- NAME` entries of a list-form environment pass NAME through from .env.
    for svc in services().values():
        env = svc.get("environment")
        if isinstance(env, list):
            names.update(item for item in env if "=" not in item)
    return names


def test_every_compose_variable_is_in_env_example() -> None:
    variables = compose_variables()
    assert {"TGI_MODEL_ID", "TGI_GPU_COUNT", "HF_TOKEN"} <= variables  # the parser found them
    missing = variables - env_example_names()
    assert not missing, f"used in docker-compose.yml, absent from .env.example: {sorted(missing)}"


def settings_env_names(model: type[BaseSettings]) -> set[str]:
    prefix = str(model.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for field_name, info in model.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if isinstance(alias, str):
            names.add(alias.upper())
        elif choices:
            names.add(str(choices[0]).upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def platform_settings_models() -> list[type[BaseSettings]]:
    """BaseSettings classes that a platform adapter defines in bots/<platform>/config.py."""
    found: list[type[BaseSettings]] = []
    for config in sorted(REPO.glob("bots/*/config.py")):
        module = importlib.import_module(f"bots.{config.parent.name}.config")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_setting_is_in_env_example() -> None:
    from core.settings import Settings

    names = settings_env_names(Settings)
    assert "TERTULIA_REDIS_URL" in names
    for model in platform_settings_models():
        names |= settings_env_names(model)
    assert {"SLACK_BOT_TOKEN", "TERTULIA_SLACK_PORT"} <= names  # aliases and the prefix both read
    missing = names - env_example_names()
    assert not missing, f"settings absent from .env.example: {sorted(missing)}"


def test_every_env_example_variable_is_read_by_something() -> None:
    sources = [COMPOSE, REPO / "config" / "models.toml"]
    for package in ("core", "worker", "bots", "tertulia"):
        sources.extend(sorted((REPO / package).rglob("*.py")))
    corpus = "\n".join(path.read_text(errors="replace") for path in sources)
    from core.settings import Settings

    known = settings_env_names(Settings) | _THIRD_PARTY_VARS
    for model in platform_settings_models():
        known |= settings_env_names(model)
    from bots.slack.config import UMBRELLA, slash_command_names

    # Slack's renames are read by pattern: each must name a slash command of the table.
    known |= {f"TERTULIA_SLACK_COMMAND_{name.upper()}" for name in (*slash_command_names(), UMBRELLA)}
    stale = {name for name in env_example_names() if name not in known and name not in corpus}
    assert not stale, f".env.example lists variables nothing reads: {sorted(stale)}"


def test_env_example_sets_no_secret_to_an_empty_string() -> None:
    # An uncommented `SLACK_APP_TOKEN=` is "" in the container, not "unset".
    for line in ENV_EXAMPLE.read_text().splitlines():
        if re.match(r"^[A-Z_]*(TOKEN|SECRET|KEY|PASSWORD|AUTH)=", line):
            assert line.split("=", 1)[1].strip(), f"{line!r}: comment it out rather than leave it empty"


# --- what the issue asks of each service -----------------------------------------------------


def test_redis_is_durable_and_checked() -> None:
    redis = services()["redis"]
    argv = as_argv(redis["command"])
    assert argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--appendfsync") + 1] == "everysec"
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert "ping" in as_argv(redis["healthcheck"]["test"])


def test_tgi_is_pinned_with_a_gpu_shm_weights_and_health() -> None:
    tgi = services()["tgi"]
    image, _, tag = tgi["image"].rpartition(":")
    assert image == "ghcr.io/huggingface/text-generation-inference"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"pin an exact version, not {tag!r}"
    assert "--model-id ${TGI_MODEL_ID" in tgi["command"]
    devices = tgi["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert tgi["shm_size"]
    assert any(str(v).endswith(":/data") for v in tgi["volumes"])
    assert any(str(part).endswith("/health") for part in tgi["healthcheck"]["test"])


def test_worker_scales_and_waits_for_healthy_dependencies() -> None:
    worker = services()["worker"]
    # --scale worker=N fails on a fixed container name or a published host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["tgi"]["condition"] == "service_healthy"


def test_adapters_and_flower_start_only_under_their_profile() -> None:
    all_services = services()
    for name in ("slack", "discord", "telegram", "flower"):
        assert all_services[name]["profiles"] == [name]
        assert all_services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("redis", "tgi", "worker"):
        assert "profiles" not in all_services[name]


def test_every_service_has_a_healthcheck() -> None:
    for name, svc in services().items():
        assert svc.get("healthcheck", {}).get("test"), f"service {name} has no healthcheck"


# --- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instruction lines (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(2) or match.group(1), [])
        if current is not None:
            current.append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", text)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "pin an exact slim Python 3.11"
    stages = dockerfile_stages()
    assert {"build", "runtime"} <= set(stages)
    runtime = stages["runtime"]
    users = [line.split(None, 1)[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert any(line.startswith('ENTRYPOINT ["tertulia"]') for line in runtime)
    assert not any(line.startswith("RUN apt-get") and "build-essential" in line for line in runtime)


def test_compose_build_targets_exist() -> None:
    stages = dockerfile_stages()
    for name, svc in app_services().items():
        assert svc["build"]["target"] in stages, f"service {name}"


def test_dockerfile_copies_only_what_dockerignore_lets_in() -> None:
    allowed = {line[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")}
    for lines in dockerfile_stages().values():
        for line in lines:
            if line.startswith("COPY") and "--from=" not in line:
                sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
                for source in sources:
                    assert source in allowed, f"{line!r}: {source} is excluded by .dockerignore"
                    assert (REPO / source).exists() or source == "README.md", f"{line!r}: no {source}"


@pytest.mark.parametrize("path", [COMPOSE, ENV_EXAMPLE, DOCKERFILE, DOCKERIGNORE])
def test_deployment_files_hold_no_real_secret(path: Path) -> None:
    from tertulia.logs import Redactor

    text = path.read_text()
    assert Redactor()(text) == text, f"{path.name} contains something shaped like a token"


def test_worker_grace_covers_the_soft_shutdown() -> None:
    from core.settings import Settings

    grace = services()["worker"]["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) >= Settings.model_fields["soft_shutdown_seconds"].default + 10


def test_monitoring_runs_pinned_prometheus_and_grafana_under_its_profile() -> None:
    all_services = services()
    for name in ("prometheus", "grafana"):
        svc = all_services[name]
        assert svc["profiles"] == ["monitoring"], name
        tag = svc["image"].rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin an exact version, not {tag!r}"
    grafana = all_services["grafana"]
    assert all(str(port).startswith("127.0.0.1:") for port in grafana["ports"])
    assert all(volume.endswith(":ro") for volume in grafana["volumes"] if volume.startswith("./"))


def test_vllm_is_a_pinned_gpu_profile_matching_its_preset() -> None:
    vllm = services()["vllm"]
    assert vllm["profiles"] == ["vllm"]
    image, _, tag = vllm["image"].rpartition(":")
    assert image == "vllm/vllm-openai"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"pin an exact version, not {tag!r}"
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert vllm["ipc"] == "host" or vllm.get("shm_size")
    argv = as_argv(vllm["command"])
    assert argv[argv.index("--model") + 1] == argv[argv.index("--served-model-name") + 1]
    assert "--max-model-len" in argv
    assert any("/health" in str(part) for part in vllm["healthcheck"]["test"])
    # The registry's preset reaches it on the compose network, as .env.example says.
    from core.models import load_registry

    preset = load_registry(REPO / "config" / "models.toml", env={"TERTULIA_VLLM_URL": "http://vllm:8000/v1"}).get("vllm")
    assert preset.url == "http://vllm:8000/v1" and preset.flavour.value == "openai"
    assert "TERTULIA_VLLM_URL=http://vllm:8000/v1" in ENV_EXAMPLE.read_text()


def test_the_worker_may_run_without_tgi() -> None:
    # `--scale tgi=0` (vLLM or a hosted API instead) must not block the worker.
    tgi = services()["worker"]["depends_on"]["tgi"]
    assert tgi["condition"] == "service_healthy" and tgi["required"] is False


def test_deploy_docs_list_every_service_with_its_pinned_image() -> None:
    table = {}
    for line in (REPO / "docs" / "deploy.md").read_text().splitlines():
        match = re.match(r"\| `([a-z-]+)` \| `([^`]+)` \|", line)
        if match:
            table[match.group(1)] = match.group(2)
    for name, svc in services().items():
        if "build" in svc:
            continue  # our image: the table says "this repo's Dockerfile"
        assert table.get(name) == svc["image"], f"docs/deploy.md: `{name}` should show `{svc['image']}`"
