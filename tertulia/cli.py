"""`tertulia <role>`: one entrypoint for every process of the service, and the one place
that starts a role: logging, health and metrics (once), the services, and what each
adapter or the worker is handed."""

# ruff: noqa: E402  (gevent's patch goes before the other imports)

from __future__ import annotations

import sys

from worker import green

# First of all: a gevent worker patches the standard library before anything imports it.
green.patch_if_worker(sys.argv[1:])

import argparse
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from kombu.exceptions import OperationalError

from core import catalogue
from core.settings import Settings, get_settings
from tertulia import health, up
from tertulia.bootstrap import Services, build_router, build_services
from tertulia.logs import configure_logging
from tertulia.observability import start_process_ops
from tertulia.policy_file import PolicyFile, PolicyFileError
from tertulia.up import redact
from worker.celery_app import worker_argv


def run_worker(argv: list[str], settings: Settings) -> int:
    """A Celery worker with this deployment's pool, concurrency and queue; extra arguments
    go to Celery. Its health and metrics start from Celery's worker_init signal. Returns the
    worker's exit code, so that a worker that stopped on an error is restarted."""
    # SIGTERM becomes Celery's soft shutdown, then a cold one that requeues (read at import).
    os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
    from celery.signals import worker_init

    from tertulia.worker_app import app, hand_back_leases  # importing it builds the worker's app
    from worker.redis_transport import use_in_worker

    use_in_worker(app)  # survives Redis restarts (docs/decisions.md)
    workers: list[Any] = []
    worker_init.connect(lambda sender=None, **_: workers.append(sender), weak=False)
    app.worker_main(worker_argv(settings, argv))
    # No worker started: --help, or a start that failed (which must not look like success).
    code = int(getattr(workers[0], "exitcode", 0) or 0) if workers else int(not _asks_for_help(argv))
    if green.patched() or any(
        t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()
    ):
        # A cold shutdown requeued the jobs still running; their threads (or greenlets, which
        # the interpreter's exit would otherwise tear down under them) must not hold the exit.
        hand_back_leases()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code


def run_console(argv: list[str], services: Services) -> int:
    from bots.console.app import main

    def outage(err: BaseException, locale: str | None) -> str | None:
        """One line for a store that doesn't answer (Redis, or the broker over it)."""
        if not isinstance(err, redis.RedisError | OperationalError):
            return None
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return catalogue.text("store_unreachable", locale, url=redact(services.settings.redis_url), reason=reason)

    return main(argv, router=build_router(services), events=services.events,
                max_attachment_bytes=services.settings.max_attachment_bytes, outage=outage)


def run_slack(argv: list[str], services: Services) -> int:
    from bots.slack.app import main
    from bots.slack.threads import FOLLOW_TTL_SECONDS, NAMESPACE, FollowedThreads

    def followed() -> FollowedThreads:
        return FollowedThreads(memory=services.memory(NAMESPACE, FOLLOW_TTL_SECONDS))

    return main(argv, router=lambda: build_router(services), dedupe=services.dedupe, followed=followed)


def run_discord(argv: list[str], services: Services) -> int:
    from bots.discord.app import Adapter, main
    from bots.discord.chains import CHAIN_TTL_SECONDS, NAMESPACE, ReplyChains

    def adapter() -> Adapter:
        chains = ReplyChains(memory=services.memory(NAMESPACE, CHAIN_TTL_SECONDS))
        return Adapter(router=build_router(services), chains=chains, dedupe=services.dedupe)

    return main(argv, adapter=adapter, model_names=services.registry.names)


def run_telegram(argv: list[str], services: Services) -> int:
    from bots.telegram.app import main

    return main(argv, dedupe=services.dedupe, router_for=lambda username: build_router(services, bot_username=username))


@dataclass(frozen=True, kw_only=True)
class Role:
    run: Callable[[list[str], Services], int]
    help: str
    json_logs: bool = True  # a terminal (the console) keeps Python's plain warnings


# Platform roles import their adapter when run, so a process loads only its own SDK.
ROLES: dict[str, Role] = {
    "console": Role(run=run_console, help="chat with the bot in this terminal", json_logs=False),
    "slack": Role(run=run_slack, help="run the Slack adapter (Socket or HTTP mode); `slack manifest`: the manifest"),
    "discord": Role(run=run_discord, help="run the Discord adapter; `discord sync-commands` registers commands"),
    "telegram": Role(run=run_telegram, help="run the Telegram adapter (polling or webhook)"),
}
OTHER_ROLES = {
    "up": "set up and run everything locally: Redis, the CPU model, a worker, the console",
    "worker": "run a Celery worker",
    "health": "probe this host's /healthz (or /readyz with --ready): container healthchecks",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia", description="LLM work in your team chat.")
    sub = parser.add_subparsers(dest="role", required=True, metavar="ROLE")
    helps = {**{name: role.help for name, role in ROLES.items()}, **OTHER_ROLES}
    for role, text in helps.items():
        child = sub.add_parser(role, help=text, add_help=False)
        child.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0] not in ROLES and argv[0] not in OTHER_ROLES):
        build_parser().parse_args(argv)  # prints the usage or the help, and exits
        return 2
    # The role's own parser owns everything after the role, flags included.
    role, rest = argv[0], argv[1:]
    if role == "up":
        return up.main(rest)
    if role == "health":
        return health.main(rest)
    settings = get_settings()
    if role == "worker":
        try:
            PolicyFile(settings.policy_file)  # the worker reads no policy, but a bad file stops the deployment
        except PolicyFileError as err:
            print(f"tertulia: {err}", file=sys.stderr)
            return 2
        return run_worker(rest, settings)
    chosen = ROLES[role]
    if chosen.json_logs:
        configure_logging(settings.log_level)
    if not _asks_for_help(rest):
        start_process_ops(settings)  # health and metrics, when their ports are set: here, once
    try:
        services = build_services(settings)
    except PolicyFileError as err:  # refused at start, with the line and the reason
        print(f"tertulia: {err}", file=sys.stderr)
        return 2
    return chosen.run(rest, services)


def _asks_for_help(argv: list[str]) -> bool:
    return "-h" in argv or "--help" in argv


if __name__ == "__main__":
    raise SystemExit(main())
