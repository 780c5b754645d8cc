"""`tertulia <role>`: one entrypoint for every process of the service."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
from typing import Any

# role -> (module whose main(argv) runs it, help)
ROLES: dict[str, tuple[str, str]] = {
    "up": ("tertulia.up", "set up and run everything locally: Redis, the CPU model, a worker, the console"),
    "console": ("bots.console.app", "chat with the bot in this terminal"),
    "worker": ("tertulia.cli", "run a Celery worker"),
    "slack": ("bots.slack.app", "run the Slack adapter (Socket Mode or HTTP)"),
    "discord": ("bots.discord.app", "run the Discord adapter; `discord sync-commands` registers commands"),
    "telegram": ("bots.telegram.app", "run the Telegram adapter (polling or webhook)"),
    "health": ("tertulia.health", "probe this host's /healthz (or /readyz with --ready): container healthchecks"),
}
# Long-running roles that log JSON and serve health and metrics (the worker does it from
# Celery's signals in worker/celery_app.py, so that a plain `celery worker` gets it too).
SERVICE_ROLES = ("slack", "discord", "telegram")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia", description="LLM work in your team chat.")
    sub = parser.add_subparsers(dest="role", required=True, metavar="ROLE")
    for role, (_module, text) in ROLES.items():
        child = sub.add_parser(role, help=text, add_help=False)
        child.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def run_worker(argv: list[str]) -> int:
    """A Celery worker on the threads pool; extra arguments go to Celery. Returns the
    worker's exit code, so that a worker that stopped on an error is restarted."""
    # SIGTERM becomes Celery's cold shutdown, preceded by the soft shutdown (read at import).
    os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
    from celery.signals import worker_init

    from core.settings import get_settings
    from worker.celery_app import app
    from worker.redis_transport import use_in_worker

    use_in_worker(app)  # survives Redis restarts (docs/decisions.md)

    workers: list[Any] = []
    worker_init.connect(lambda sender=None, **_: workers.append(sender), weak=False)

    settings = get_settings()
    args = [
        "worker",  # the pool is the app's worker_pool: threads (worker/pool.py)
        "-c", str(settings.worker_concurrency),
        "-Q", settings.queue,
        "-l", settings.log_level,
        *argv,
    ]
    app.worker_main(args)
    code = int(getattr(workers[0], "exitcode", 0) or 0) if workers else 1
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # A cold shutdown requeued the jobs still running; their threads must not hold the exit.
        from worker.leased import hand_back_leases

        hand_back_leases()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ROLES:
        build_parser().parse_args(argv)  # prints the usage or the help, and exits
        return 2
    # The role's own parser owns everything after the role, flags included.
    role, rest = argv[0], argv[1:]
    if role in SERVICE_ROLES:
        from core.settings import get_settings
        from tertulia.logs import configure_logging
        from tertulia.observability import start_process_ops

        configure_logging(get_settings().log_level)
        start_process_ops(get_settings())
    if role == "worker":
        return run_worker(rest)
    module = importlib.import_module(ROLES[role][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
