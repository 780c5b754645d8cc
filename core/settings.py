"""Every setting, read from the environment once, in one place.

Prefix ``TERTULIA_``. Each platform's own settings (its tokens, API URLs, ports) live with
its adapter (``bots/<platform>/config.py``): the core knows no platform. Secrets are
``SecretStr`` so that a settings object printed into a log shows ``**********``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    # An empty variable (`SLACK_APP_TOKEN=` in an env file) means "not set", not "".
    model_config = SettingsConfigDict(
        env_prefix="TERTULIA_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # --- infrastructure ---
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None  # defaults to redis_url
    key_prefix: str = "tertulia"  # every Redis key we write starts with it
    queue: str = "tertulia"
    run_dir: Path = REPO_ROOT / ".run"  # logs, pid files and the private Redis of `tertulia up`

    # --- models ---
    models_file: Path = REPO_ROOT / "config" / "models.toml"
    default_model: str | None = None  # overrides the registry's default
    policy_file: Path = REPO_ROOT / "config" / "policy.toml"  # allowlists, admins, limits (docs/policy.md)
    request_timeout: float = 30.0  # connect; the first token (or token_timeout, if longer)
    token_timeout: float = 20.0  # the gap allowed between two streamed tokens (keep-alives don't count)
    info_ttl_seconds: float = 300.0  # how long a server's /info limits are trusted before re-reading

    # --- jobs ---
    max_input_chars: int = 12_000
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_document_chars: int = 400_000  # text read from files/threads, summarised map-reduce
    # An image sent to a vision model: base64 adds a third, and TGI's default payload limit is 2 MB.
    max_image_bytes: int = 1_500_000
    context_ttl_seconds: int = 24 * 3600
    # A conversation's memory keeps this many turns (a user's and an answer each): older ones
    # are trimmed in Redis when a new exchange is recorded. The prompt budget may keep fewer.
    context_max_turns: int = 40
    job_ttl_seconds: int = 24 * 3600
    model_retries: int = 4
    retry_backoff_base: float = 2.0
    retry_backoff_max: float = 60.0
    worker_concurrency: int = 256
    # `tertulia worker`'s pool: greenlets on one gevent hub, or Celery's threads (the opt-out);
    # worker/green.py reads the variable itself, before anything is imported.
    worker_pool: Literal["gevent", "threads"] = "gevent"
    # A running job holds a lease its worker renews; a dead worker's jobs are re-run once it lapses.
    lease_seconds: float = 10.0
    max_waiting_per_conversation: int = 10  # /chat messages of one conversation queued or running
    max_waiting_per_user: int = 30  # jobs of one user queued or running
    soft_shutdown_seconds: float = 10.0  # on SIGTERM, running jobs get this long before they are requeued

    # --- delivery ---
    console_update_interval: float = 0.05
    # A worker process asks Redis for a destination's rate budget at most once per this many
    # seconds (or per interval, if longer) and hands out the slots in between itself.
    rate_lease_seconds: float = 0.5
    # The console's interval is ours (no platform counts its updates): a quiet channel's first
    # lease is the process's own, later ones this long (issue 12's round trips, core/budget.py).
    console_rate_lease_seconds: float = 2.5

    # --- operations ---
    log_level: str = "INFO"
    health_port: int = 0  # 0: no health server for this process
    metrics_port: int = 0

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
