"""Dependencies: every import is declared (deptry), and requirements.lock pins a version
of every declared dependency that its bounds in pyproject.toml allow; the Docker image and
./scripts/setup install from the lock."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines.extend(extra)
    return [r for r in map(Requirement, lines) if canonicalize_name(r.name) != "tertulia"]


def locked() -> dict[str, list[Version]]:
    """name -> the pinned versions (a universal lock may pin one per Python range)."""
    pins: dict[str, list[Version]] = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), []).append(Version(match.group(2)))
    return pins


def test_the_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    pins = locked()
    assert len(pins) > 50  # the parser read the lock
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: refresh it (docs/deploy.md)"
        for version in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version}, outside pyproject's {requirement}: refresh it"
            )


def test_httpx2_is_declared_with_the_hub_that_brings_it() -> None:
    by_name = {canonicalize_name(r.name): r for r in declared()}
    # worker/llm imports httpx2, which only huggingface_hub 2.x uses.
    assert "httpx2" in by_name
    assert not by_name["huggingface-hub"].specifier.contains("1.33.0")


def test_every_import_is_a_declared_dependency() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deptry", "."], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_setup_and_the_image_install_from_the_lock() -> None:
    setup = (REPO / "scripts" / "setup").read_text()
    assert "-c requirements.lock" in setup
    assert re.search(r"cat pyproject.toml requirements.lock", setup), "the setup stamp must cover the lock"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'pip install -c requirements.lock ".[slack,discord,telegram]"' in dockerfile
    assert "COPY pyproject.toml README.md requirements.lock" in dockerfile
