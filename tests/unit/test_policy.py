"""The policy file's rules, pure: parsing (a bad file names its line), allowlists, admins,
models per scope."""

from __future__ import annotations

import pytest

from core.guard import wait_text
from core.messages import InboundMessage
from core.policy import PolicyError, parse_policy, place_of

POLICY = """
[slack]
workspaces = ["T1"]
channels = ["C1"]
admins = ["UADMIN"]

[discord]
guilds = ["G1"]
roles = ["R1"]
users = ["UD"]

[telegram]
chats = ["-100"]
users = ["7", "8"]

[limits]
requests_per_user_per_minute = 5

[models]
allowed = ["tgi", "gpt-4"]
hosted = false

[scopes."slack:T1"]
hosted = true
"""


def msg(platform: str, **fields: object) -> InboundMessage:
    base: dict[str, object] = {"workspace": "T1", "channel": "C1", "user": "U1", "text": "hi"}
    base.update(fields)
    return InboundMessage(platform=platform, **base)  # type: ignore[arg-type]


def test_slack_allowlists_and_admins() -> None:
    policy = parse_policy(POLICY)
    assert policy.admits(msg("slack"))
    assert not policy.admits(msg("slack", workspace="T2"))
    assert not policy.admits(msg("slack", channel="C2"))
    assert policy.admits(msg("slack", channel="D9", is_dm=True))  # a DM in the workspace
    assert policy.admits(msg("slack", channel="C2", user="UADMIN"))
    assert policy.is_admin(msg("slack", user="UADMIN")) and not policy.is_admin(msg("slack"))


def test_discord_roles_or_users_and_dms() -> None:
    policy = parse_policy(POLICY)
    assert policy.admits(msg("discord", workspace="G1", roles=("R1",)))
    assert policy.admits(msg("discord", workspace="G1", user="UD"))
    assert not policy.admits(msg("discord", workspace="G1", roles=("R2",)))
    assert not policy.admits(msg("discord", workspace="G2", user="UD"))
    assert policy.admits(msg("discord", workspace="@me", user="UD", is_dm=True))
    assert not policy.admits(msg("discord", workspace="@me", user="X", is_dm=True, roles=("R1",)))
    assert policy.is_admin(msg("discord"))  # no admins named: everyone, as before


def test_telegram_chats_and_users() -> None:
    policy = parse_policy(POLICY)
    assert policy.admits(msg("telegram", channel="-100", user="7"))
    assert not policy.admits(msg("telegram", channel="-100", user="9"))
    assert not policy.admits(msg("telegram", channel="-200", user="7"))
    assert policy.admits(msg("telegram", channel="7", user="7", is_dm=True))
    assert not policy.admits(msg("telegram", channel="9", user="9", is_dm=True))
    assert place_of(msg("telegram", channel="-100")) == "telegram:-100"


def test_console_is_allowed_by_default_and_can_be_closed() -> None:
    assert parse_policy(POLICY).admits(msg("console", workspace="local"))
    assert not parse_policy("[console]\nenabled = false\n").admits(msg("console", workspace="local"))


def test_models_per_scope_and_hosted() -> None:
    policy = parse_policy(POLICY)
    assert policy.models_for(msg("discord")).permits("tgi", hosted=False)
    assert not policy.models_for(msg("discord")).permits("gpt-4", hosted=True)
    assert not policy.models_for(msg("discord")).permits("other", hosted=False)
    assert policy.models_for(msg("slack")).permits("gpt-4", hosted=True)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[slack]\nusers = [\"U1\"]\nchanels = [\"C1\"]\n", 3, "unknown key 'chanels'"),
        ("[limits]\n\nrequests_per_user_per_minute = 0\n", 3, "at least 1"),
        ("[limits]\ntokens_per_user_per_day = \"lots\"\n", 2, "whole number"),
        ("[models]\nallowed = [\"nope\"]\n", 2, "unknown model"),
        ("[slack]\nusers = \"U1\"\n", 2, "list of ids"),
        ("\n\n[sales]\nx = 1\n", 3, "unknown section"),
        ("[slack]\nusers = [\"U1\"\n", 2, "Unclosed array"),
        ("[scopes.\"slack:T1\"]\nhosted = \"no\"\n", 2, "true or false"),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, known_models=["tgi"])
    assert caught.value.line == line, caught.value
    assert reason.lower() in caught.value.reason.lower()


def test_waits_read_as_people_say_them() -> None:
    assert wait_text(41.2, "en") == "42 s"
    assert wait_text(150, "en") == "3 min"
    assert wait_text(5 * 3600 + 600, "en") == "5 h 10 min"
    assert wait_text(0, "es") == "cuando termine alguna"


def test_the_documented_example_is_a_valid_policy() -> None:
    from pathlib import Path

    from core.models import load_registry

    root = Path(__file__).resolve().parents[2]
    example = (root / "docs" / "policy.md").read_text().split("```toml", 1)[1].split("```", 1)[0]
    names = load_registry(root / "config" / "models.toml", env={}).names()
    policy = parse_policy(example, known_models=names)
    assert policy.limits.concurrent_jobs_per_user == 2 and policy.rules("discord").lists["roles"]
    assert policy.models_for(msg("slack", workspace="T0123ABCD")).permits("gpt-4", hosted=True)
