"""The policy at work (issue 13): limits counted atomically in the real Redis across two
routers with their own connections, admins, usage from the fake TGI's own counts through a
real worker, personas in the prompt, hosted models, and the policy file refused or reloaded."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from core import catalogue
from core.messages import InboundMessage
from tests.conftest import REPO, wait_until
from tests.integration.policy_support import console_as, policy_services, queued, saved_jobs
from tests.support.processes import environ

pytestmark = pytest.mark.integration


def someone() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def message(platform: str, text: str, **fields: Any) -> InboundMessage:
    base: dict[str, Any] = {"workspace": "W1", "channel": "C1", "user": "U1", "text": text, "addressed": True}
    base.update(fields)
    return InboundMessage(platform=platform, **base)


def test_twenty_requests_at_five_a_minute_across_two_routers_admit_exactly_five(
    settings: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    from tertulia.bootstrap import build_router

    text = "[limits]\nrequests_per_user_per_minute = 5\n"
    first = policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=True)
    # A second "adapter process": its own Services, Redis pool and router, the same keys.
    second = policy_services(settings.model_copy(update={"key_prefix": first.settings.key_prefix,
                                                         "queue": first.settings.queue}),
                             stack_env, tmp_path / "policy.toml", text, own_queue=False)  # fmt: skip
    routers = [build_router(first), build_router(second)]
    start = threading.Barrier(20)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        start.wait()
        outcome = routers[n % 2].handle(message("slack", f"/essay Tides {n}", user="UFAST"))
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    accepted = [o for o in outcomes if o.job is not None]
    refused = [o.reply for o in outcomes if o.job is None]
    assert len(outcomes) == 20 and len(accepted) == 5
    assert queued(first) == 5 and saved_jobs(first) == 5  # on the queue, not only in the replies
    assert all(re.fullmatch(r"Too many requests: the limit is 5 a minute\. You can go on in \d+ (s|min)\.", r or "")
               for r in refused), refused[:3]  # fmt: skip


def test_outsiders_on_each_platform_enqueue_nothing(settings: Any, stack_env: dict[str, str], tmp_path: Path) -> None:
    from tertulia.bootstrap import build_router

    text = """
[slack]
workspaces = ["T1"]
channels = ["CIN"]
[discord]
guilds = ["G1"]
roles = ["RMEMBER"]
[telegram]
chats = ["-100"]
users = ["7"]
"""
    services = policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=True)
    router = build_router(services)
    outsiders = [
        message("slack", "/essay A", workspace="T2", channel="CIN"),
        message("slack", "/essay A", workspace="T1", channel="COUT"),
        message("discord", "/essay A", workspace="G1", roles=("ROTHER",)),
        message("discord", "/essay A", workspace="G2", roles=("RMEMBER",)),
        message("telegram", "/essay A", channel="-200", user="7"),
        message("telegram", "/essay A", channel="-100", user="8"),
    ]
    for m in outsiders:
        assert router.handle(m).ignored, m  # a group: not a word
    for platform, workspace in (("slack", "T9"), ("discord", "@me"), ("telegram", "W1")):
        dm = message(platform, "hello", workspace=workspace, channel="D9", user="9", is_dm=True)
        replies = [router.handle(dm).reply for _ in range(3)]
        assert replies == [catalogue.text("policy_outsider", None), None, None], platform  # answered once
    assert queued(services) == 0 and saved_jobs(services) == 0
    # Inside: the Discord member with the role, the Telegram user in the chat.
    assert router.handle(message("discord", "/essay A", workspace="G1", roles=("RMEMBER",))).job is not None
    assert router.handle(message("telegram", "/essay A", channel="-100", user="7")).job is not None
    assert queued(services) == 2


def test_only_admins_change_the_model_the_persona_and_shared_memory(
    settings: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    from tertulia.bootstrap import build_router

    text = '[discord]\nadmins = ["BOSS"]\n'
    services = policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=True)
    router = build_router(services)
    denied = catalogue.text("policy_admin_only", "es")
    for line in ("/model tgi", "/persona Be brief.", "/persona reset", "/reset"):
        assert router.handle(message("discord", line, user="PLEB", locale="es")).reply == denied, line
    assert services.choices.get("discord:W1:C1:-") is None
    # Everyone may read the persona and forget their own DM.
    assert router.handle(message("discord", "/persona", user="PLEB")).reply == catalogue.text("persona_none", None)
    dm = message("discord", "/reset", user="PLEB", is_dm=True, workspace="@me")
    assert router.handle(dm).reply == catalogue.text("reset_done", None)
    boss = {"user": "BOSS"}
    assert router.handle(message("discord", "/model tgi", **boss)).reply == catalogue.text("model_set", None,
                                                                                            model="tgi")
    assert router.handle(message("discord", "/persona Be brief.", **boss)).reply == catalogue.text("persona_set", None)
    assert router.handle(message("discord", "/persona", user="PLEB")).reply.endswith("Be brief.")  # type: ignore[union-attr]
    assert router.handle(message("discord", "/reset", **boss)).reply == catalogue.text("reset_done", None)
    assert queued(services) == 0


def test_hosted_models_are_marked_and_can_be_forbidden(
    settings: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    from tertulia.bootstrap import build_router

    text = '[models]\nhosted = false\n[scopes."slack:T1"]\nhosted = true\n'
    services = policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=True)
    router = build_router(services)
    assert services.registry.is_hosted("openai-test") and not services.registry.is_hosted("tgi")
    refused = router.handle(message("discord", "/model openai-test"))
    assert refused.reply == catalogue.text("model_forbidden", None, model="openai-test")
    allowed = router.handle(message("slack", "/model openai-test", workspace="T1"))
    assert allowed.reply == catalogue.text("model_set", None, model="openai-test")
    # A choice made before the policy forbade it is refused before anything is enqueued.
    services.choices.set("discord:W1:C1:-", "openai-test")
    assert router.handle(message("discord", "/essay Tea")).reply == catalogue.text(
        "model_forbidden", None, model="openai-test")
    assert queued(services) == 0


def test_usage_is_what_the_model_server_counted_and_a_spent_budget_says_when_it_resets(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    text = '[console]\nadmins = ["boss"]\n[limits]\ntokens_per_user_per_day = {budget}\n'
    path = tmp_path / "policy.toml"
    services = policy_services(settings, stack_env, path, text.format(budget=1_000_000), own_queue=False)
    router = build_router(services)
    tgi.reset()
    user = someone()
    chat = console_as(services, router, user)
    tgi.script("One two three.")
    assert chat.say("/essay Tea") == "One two three."
    tgi.script("Four five.")
    assert chat.say("/chat hello") == "Four five."
    reported = list(tgi.reported)
    assert len(reported) == 2
    prompt, generated = sum(r[0] for r in reported), sum(r[1] for r in reported)
    usage = chat.say("/usage")
    assert f"Today: 2 requests, {prompt} tokens in, {generated} tokens out." in usage
    assert f"This month: 2 requests, {prompt} tokens in, {generated} tokens out." in usage
    assert f"Left today: {1_000_000 - prompt - generated} of 1000000 tokens." in usage
    assert "Top users" not in usage  # not an admin
    path.write_text(text.format(budget=prompt + generated))  # now spent: re-read without a restart
    wait_until(lambda: services.policy().limits.tokens_per_user_per_day == prompt + generated, timeout=10)
    refused = chat.say("/essay More tea")
    spent = prompt + generated
    resets = rf"You've used your {spent} tokens for today\. Your budget resets in \d+ (h \d+ )?min \(00:00 UTC\)\."
    assert re.fullmatch(resets, refused), refused
    assert len(tgi.generation_requests()) == 2
    boss = console_as(services, router, "boss").say("/usage")
    assert f"{user} ({prompt + generated})" in boss and "Here this month (everyone)" in boss


def test_a_persona_speaks_in_chat_within_the_prompt_budget(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    services = policy_services(settings, stack_env, tmp_path / "policy.toml", "", own_queue=False)
    router = build_router(services)
    tgi.reset()
    chat = console_as(services, router, someone(), locale="es")
    assert chat.say("/persona Answer like a pirate.") == catalogue.text("persona_set", "es")
    tgi.script("Arr.")
    assert chat.say("/chat hello") == "Arr."
    assert "Answer like a pirate." in tgi.prompts()[-1]
    tgi.reset()
    long_persona = "Answer like a pirate. " + "Arr matey, ye scallywag, hoist the sails. " * 30
    assert chat.say(f"/persona {long_persona}") == catalogue.text("persona_set", "es")
    tgi.set_limits(max_input_tokens=400)  # no room for this persona: the command's text alone
    tgi.script("Hi.")
    assert chat.say("/chat hi") == "Hi."
    assert "pirate" not in tgi.prompts()[-1]
    tgi.reset()
    assert chat.say("/persona reset") == catalogue.text("persona_cleared", "es")
    tgi.script("Plain.")
    assert chat.say("/chat again") == "Plain."
    assert "pirate" not in tgi.prompts()[-1]


def test_models_listing_warns_of_hosted_apis(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    services = policy_services(settings, stack_env, tmp_path / "policy.toml", "", own_queue=False)
    listing = console_as(services, build_router(services), someone()).say("/models")
    hosted = [line for line in listing.splitlines() if catalogue.text("model_hosted", None) in line]
    assert len(hosted) == 1 and "`openai-test`" in hosted[0]


def test_a_malformed_policy_is_refused_at_start_with_its_line(stack_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('[limits]\nrequests_per_user_per_minute = 5\ntokens_per_user_per_day = "many"\n')
    for role in ("console", "worker"):
        done = subprocess.run([sys.executable, "-m", "tertulia.cli", role], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, **stack_env, "TERTULIA_POLICY_FILE": str(bad)},
                              timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert f"policy file {bad}:3: 'tokens_per_user_per_day' must be a whole number" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_bad_reload_keeps_the_last_good_policy_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tertulia.policy_file import PolicyFile

    path = tmp_path / "policy.toml"
    path.write_text("[limits]\nrequests_per_user_per_minute = 5\n")
    policy = PolicyFile(path, interval=0)
    assert policy().limits.requests_per_user_per_minute == 5
    path.write_text("[limits]\nrequests_per_user_per_minute = 7\n")
    wait_until(lambda: policy().limits.requests_per_user_per_minute == 7, timeout=5)
    with caplog.at_level(logging.ERROR, logger="tertulia.policy"):
        time.sleep(0.01)  # a distinct modification time
        path.write_text("[limits\nrequests_per_user_per_minute = 1\n")
        assert policy().limits.requests_per_user_per_minute == 7
    assert any(f"{path}:1:" in r.getMessage() and "last good" in r.getMessage() for r in caplog.records)


def test_the_shipped_policy_is_valid(stack_env: dict[str, str]) -> None:
    from core.models import load_registry
    from tertulia.policy_file import PolicyFile

    with environ(stack_env):
        names = load_registry(REPO / "config" / "models.toml").names()
    assert PolicyFile(REPO / "config" / "policy.toml", known_models=names)().rules("console").enabled


def test_concurrent_jobs_per_user_free_when_the_worker_finishes(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    text = "[limits]\nconcurrent_jobs_per_user = 1\n"
    services = policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=False)
    chat = console_as(services, build_router(services), someone())
    tgi.reset()
    tgi.set_delays(between_tokens=0.1)
    tgi.script("one two three four five six")
    first = chat.session.submit("/essay Slow")
    assert first.job is not None
    second = chat.session.submit("/essay Another")
    assert second.job is None and second.reply == (
        "You already have 1 requests running. You can go on when one of them finishes.")
    assert chat.follow(first.job.id) == "one two three four five six"
    tgi.reset()
    third = wait_until(lambda: chat.session.submit("/code hello").job, timeout=10)  # the worker freed the slot
    # Answered here: left running, it took the next test's scripted reply from the shared fake.
    assert chat.follow(third.id)
