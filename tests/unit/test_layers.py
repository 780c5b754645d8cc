"""The design card's import rules, checked on the source: core/ imports no platform SDK,
Celery or HTTP client, and each platform SDK is imported only under its bots/<platform>/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "worker", "bots", "tertulia")
SDKS = {"slack_sdk": "slack", "slack_bolt": "slack", "discord": "discord", "telegram": "telegram"}
NOT_IN_CORE = {"celery", "kombu", "httpx", "httpx2", "requests", "aiohttp", "urllib3", "huggingface_hub", *SDKS}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_sdk_celery_or_http_client(path: Path) -> None:
    assert imports(path) & NOT_IN_CORE == set()


@pytest.mark.parametrize("path", [p for pkg in PACKAGES for p in sources(pkg)], ids=lambda p: str(p.relative_to(ROOT)))
def test_platform_sdks_stay_in_their_adapter(path: Path) -> None:
    parts = path.relative_to(ROOT).parts
    home = parts[1] if parts[0] == "bots" and len(parts) > 2 else None
    for module in imports(path) & set(SDKS):
        assert SDKS[module] == home, f"{module} imported outside bots/{SDKS[module]}/"


def test_no_module_is_more_than_a_few_hundred_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for pkg in PACKAGES
        for p in sources(pkg)
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
