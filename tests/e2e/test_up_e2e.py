"""`tertulia up`, the README's run command: it brings up the CPU model and a worker, the
console answers from the real model, and Ctrl-D (EOF) leaves no process behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, wait_until

pytestmark = pytest.mark.e2e


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes that contain ``marker`` (zombies excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if marker in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_up_answers_from_the_model_and_ctrl_d_stops_everything(
    e2e_env: dict[str, str], redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # e2e_env: skips cleanly where llama.cpp is not installed, and removes our Redis keys after.
    queue = f"{key_prefix}-up-{os.getpid()}"
    env = {
        **os.environ,
        "TERTULIA_REDIS_URL": redis_url,
        "TERTULIA_KEY_PREFIX": f"{key_prefix}-up",
        "TERTULIA_QUEUE": queue,
        "TERTULIA_RUN_DIR": str(tmp_path / "run"),
        "TERTULIA_MODELS_FILE": str(REPO / "config" / "models.toml"),
        "TERTULIA_MODEL": "smollm2-local",
        "TERTULIA_LOCAL_MAX_NEW_TOKENS": "64",
        "TERTULIA_WORKER_CONCURRENCY": "2",
        "TERTULIA_REQUEST_TIMEOUT": "60",
        "TERTULIA_TOKEN_TIMEOUT": "60",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("TERTULIA_LOCAL_LLM_URL", None)  # `up` starts its own model server
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "up"],
        input=b"/translate de J'aime l'apprentissage automatique.\n",  # then EOF: Ctrl-D
        capture_output=True, cwd=REPO, env=env, timeout=240,
    )  # fmt: skip
    out = done.stdout.decode(errors="replace")
    print(f"\n[e2e] tertulia up, one /translate, shutdown: {time.monotonic() - started:.1f}s\n{out}")
    assert done.returncode == 0, out + done.stderr.decode(errors="replace")[-3000:]

    # It said where each part logs, and the reply came from the model.
    run_dir = tmp_path / "run"
    assert f"log {run_dir / 'llama-server.log'}" in out
    assert f"log {run_dir / 'worker.log'}" in out
    reply = out.split("tertulia> ", 1)[1].split("[up]", 1)[0].strip()
    assert reply and "/translate" not in reply
    assert "POST /v1/chat/completions" in (run_dir / "llama-server.log").read_text(errors="replace")

    # Nothing it started is left: not the worker (its queue is unique) nor the model server.
    port = re.search(r"SmolLM2-135M at http://127\.0\.0\.1:(\d+)/v1", out)
    assert port is not None, out
    wait_until(lambda: not processes_mentioning(f"-Q {queue}"), timeout=10)
    wait_until(lambda: not processes_mentioning(f"--port {port.group(1)} "), timeout=10)
