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


# Who may import whom: core <- worker, core <- bots, and tertulia (the composition root) over
# all of them; the fakes serve tests and benchmarks, which import anything but each other's.
ALLOWED = {
    "core": {"core"},
    "worker": {"core", "worker"},
    "bots": {"core", "bots"},
    "tertulia": {"core", "worker", "bots", "tertulia"},
    "fakes": {"core", "bots", "fakes"},
    "bench": {"core", "worker", "bots", "tertulia", "fakes", "bench"},
}
OURS = set(ALLOWED) | {"tests"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Our own modules that ``path`` imports (every import, or only module-level ones)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_the_layering_allows(package: str) -> None:
    wrong = {
        f"{module_name(path)} -> {name}"
        for path in sources(package)
        for name in project_imports(path)
        if name.split(".")[0] not in ALLOWED[package]
    }
    assert wrong == set()


def test_there_are_no_import_cycles() -> None:
    modules = {module_name(p): p for pkg in (*PACKAGES, "fakes") for p in sources(pkg)}
    graph = {
        name: {dep for dep in project_imports(path, top_level_only=True) if dep in modules and dep != name}
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name):], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_job_runner_stays_small() -> None:
    tree = ast.parse((ROOT / "core" / "runner.py").read_text())
    runner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "JobRunner")
    assert runner.end_lineno is not None and runner.end_lineno - runner.lineno + 1 < 200
