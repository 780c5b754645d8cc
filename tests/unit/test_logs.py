"""Structured JSON logs: the fields a reader needs, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bots.discord.config import DiscordConfig
from bots.slack.config import SlackConfig
from bots.telegram.config import TelegramConfig
from core.settings import Settings
from tertulia.logs import (
    REDACTED,
    Redactor,
    configure_logging,
    event_logging,
    job_logging,
    scope_hash,
)

SLACK_BOT = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_APP = "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef"
TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
DISCORD = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
# A secret of no recognisable shape: only knowing the settings' values can catch it.
WEBHOOK_SECRET = "plain-words-webhook-secret"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    configs = [
        SlackConfig(bot_token=SLACK_BOT, app_token=SLACK_APP),
        TelegramConfig(bot_token=TELEGRAM, webhook_secret=WEBHOOK_SECRET),
        DiscordConfig(bot_token=DISCORD),
    ]
    configure_logging("DEBUG", settings=Settings(), configs=configs, stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_each_record_is_one_json_object_with_the_job_fields(stream: io.StringIO) -> None:
    logging.getLogger("tertulia.worker").info(
        "job %s finished", "j1", extra={"job_id": "j1", "platform": "slack", "scope": "slack:T1:C1:th", "tokens": 42}
    )
    (record,) = lines(stream)
    assert record["msg"] == "job j1 finished"
    assert record["level"] == "INFO"
    assert record["logger"] == "tertulia.worker"
    assert (record["job_id"], record["platform"], record["scope"]) == ("j1", "slack", scope_hash("slack:T1:C1:th"))
    assert record["tokens"] == 42
    assert record["ts"].endswith("Z")


def test_job_context_tags_every_line_inside_it_and_none_after(stream: io.StringIO) -> None:
    log = logging.getLogger("some.library")
    with job_logging(job_id="j2", platform="telegram", scope="telegram:-100:7"):
        log.warning("inside")
    log.warning("after")
    inside, after = lines(stream)
    assert (inside["job_id"], inside["platform"], inside["scope"]) == ("j2", "telegram", scope_hash("telegram:-100:7"))
    assert "job_id" not in after


def test_job_context_with_only_the_job_id(stream: io.StringIO) -> None:
    with job_logging(job_id="j4"):
        logging.getLogger("tertulia.worker").info("loading")
    (record,) = lines(stream)
    assert record["job_id"] == "j4" and "platform" not in record and "scope" not in record


def test_job_context_belongs_to_its_thread(stream: io.StringIO) -> None:
    log = logging.getLogger("tertulia.worker")
    with job_logging(job_id="j3", platform="discord", scope="discord:g:c"):
        other = threading.Thread(target=lambda: log.info("other thread"))
        other.start()
        other.join()
    (record,) = lines(stream)
    assert "job_id" not in record


@pytest.mark.parametrize("secret", [SLACK_BOT, SLACK_APP, TELEGRAM, DISCORD, WEBHOOK_SECRET])
def test_settings_secrets_never_reach_the_log(stream: io.StringIO, secret: str) -> None:
    log = logging.getLogger("bots.any")
    log.info("in the message: " + secret)
    log.info("in the args: %s", secret)
    log.info("in an extra", extra={"body": f"error from api: {secret}"})
    try:
        raise RuntimeError(f"request failed for {secret}")
    except RuntimeError:
        log.exception("in a traceback")
    text = stream.getvalue()
    assert secret not in text
    assert text.count(REDACTED) >= 4
    assert len(lines(stream)) == 4


def test_token_shapes_are_redacted_even_when_not_in_the_settings(stream: io.StringIO) -> None:
    other_telegram = "987654321:AAF-otherbotTOKENvalue_abcdefghijklmn"
    log = logging.getLogger("httpx")
    log.warning("GET https://api.telegram.org/bot%s/getUpdates failed", other_telegram)
    log.warning("slack said invalid_auth for xoxb-999-888-zzzzzzzz")
    log.warning("header Authorization: Bearer abcdef0123456789abcdef")
    log.warning("connecting to redis://:hunter2hunter2@redis.internal:6379/0")
    log.warning("hf token hf_abcdefghijklmnopqrstuvwxyz012345")
    text = stream.getvalue()
    leaks = (other_telegram, "xoxb-999-888-zzzzzzzz", "abcdef0123456789abcdef", "hunter2hunter2", "hf_abcdefghij")
    for leaked in leaks:
        assert leaked not in text
    # What is not a secret stays readable.
    assert "redis.internal:6379/0" in text and "api.telegram.org/bot" in text


def test_ordinary_text_is_left_alone() -> None:
    redact = Redactor(secrets=["s3cret-value"])
    for text in (
        "job 8f3a finished in 12:30 with 512 tokens",
        "scope slack:T01:C02:1700000000.000100",
        "translated 'Hola' to German",
        "https://slack.com/api/chat.update",
    ):
        assert redact(text) == text


def test_configuring_twice_keeps_one_handler(stream: io.StringIO) -> None:
    before = len(logging.getLogger().handlers)
    configure_logging("INFO", settings=Settings(), stream=stream)
    assert len(logging.getLogger().handlers) == before
    logging.getLogger("x").info("once")
    assert len(lines(stream)) == 1


def test_level_filters(stream: io.StringIO) -> None:
    configure_logging("WARNING", settings=Settings(), stream=stream)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert [r["msg"] for r in lines(stream)] == ["shown"]


def test_http_clients_do_not_log_every_request_at_info(stream: io.StringIO) -> None:
    # httpx (platform clients) and httpx2 (huggingface_hub's, the model calls) each log one
    # INFO line per request, URL included; at INFO the job lines must not drown in them.
    import httpx
    import httpx2

    configure_logging("INFO", settings=Settings(), stream=stream)
    httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))).get("http://model.test/info")
    httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(200))).get("http://model.test/info")
    logging.getLogger("tertulia.runner").info("a job line")
    assert [r["msg"] for r in lines(stream)] == ["a job line"]


# --- job_logging, event_logging: the fields set once around the work ----------------------------


def test_job_logging_tags_every_line_with_five_fields_and_no_raw_scope(stream: io.StringIO) -> None:
    scope = "discord:g:111222333:user:444555666"
    with job_logging(job_id="j5", platform="discord", scope=scope, command="chat") as fields:
        logging.getLogger("worker.llm.tgi").debug("before the model is chosen")
        fields.set(model="vllm")
        logging.getLogger("core.delivery").warning("retrying an edit")
    first, second = lines(stream)
    assert {k: first[k] for k in ("job_id", "platform", "command")} == {"job_id": "j5", "platform": "discord",
                                                                         "command": "chat"}
    assert "model" not in first and second["model"] == "vllm"
    assert first["scope"] == second["scope"] == scope_hash(scope) != scope
    assert "444555666" not in stream.getvalue() and "111222333" not in stream.getvalue()


def test_a_scope_hash_is_stable_short_and_idempotent() -> None:
    digest = scope_hash("slack:T1:C1:1700000000.000100")
    assert digest == scope_hash("slack:T1:C1:1700000000.000100") != scope_hash("slack:T1:C2:1700000000.000100")
    assert digest.startswith("s-") and len(digest) == 18
    assert scope_hash(digest) == digest


def test_an_unknown_field_is_refused() -> None:
    with job_logging(job_id="j6") as fields, pytest.raises(ValueError, match="user"):
        fields.set(user="U123")


def test_event_logging_tags_an_adapters_lines(stream: io.StringIO) -> None:
    with event_logging(platform="telegram", event_id="update-991"):
        logging.getLogger("bots.telegram.app").info("update received")
        with job_logging(job_id="j7", command="translate"):
            logging.getLogger("core.router").info("job queued")
    received, queued = lines(stream)
    assert (received["platform"], received["event_id"]) == ("telegram", "update-991") and "job_id" not in received
    assert (queued["platform"], queued["event_id"], queued["job_id"]) == ("telegram", "update-991", "j7")


def test_library_request_logs_are_quiet_at_info() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    try:
        configure_logging("INFO", settings=Settings(), stream=out)
        for name in ("httpx2", "httpcore2", "httpx", "urllib3"):
            logging.getLogger(name).info('HTTP Request: POST http://tgi/generate_stream "HTTP/1.1 200 OK"')
        logging.getLogger("httpx2").warning("connection pool is full")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    (record,) = lines(out)
    assert record["logger"] == "httpx2" and record["level"] == "WARNING"
