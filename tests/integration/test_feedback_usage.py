"""Under a policy: votes on answers show per model in an admin's /usage (not in others'),
and an admin the policy names may stop someone else's answer."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from core import catalogue
from core.controls import Click
from core.messages import InboundMessage
from core.panel import DOWN, STOP, UP
from tests.conftest import wait_until
from tests.integration.policy_support import console_as, policy_services

pytestmark = pytest.mark.integration

POLICY = '[console]\nadmins = ["boss"]\n'
LONG = " ".join(f"word{n}" for n in range(200))


def clicker(user: str) -> InboundMessage:
    return InboundMessage(platform="console", workspace="local", channel="elsewhere", user=user, text="", locale="en")


def test_votes_show_per_model_to_admins_in_usage(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    services = policy_services(settings, stack_env, tmp_path / "policy.toml", POLICY, own_queue=False)
    router = build_router(services)
    tgi.reset()
    user = f"u{uuid.uuid4().hex[:8]}"
    chat = console_as(services, router, user)
    tgi.script("Worth a vote.")
    job_id = chat.submit("/chat rate me")
    assert chat.follow(job_id) == "Worth a vote."
    for who, kind in ((user, UP), (user, DOWN), ("boss", UP), ("carla", DOWN)):
        assert router.click(Click(kind=kind, job_id=job_id, who=clicker(who))).text == catalogue.text(
            "feedback_thanks", "en")
    model = services.controls.facts(job_id).model
    line = catalogue.text("usage_feedback", "en", models=f"{model} 👍 1 👎 2")
    assert line in console_as(services, router, "boss").say("/usage")
    assert "👍" not in chat.say("/usage")  # not an admin


def test_an_admin_may_stop_someone_elses_answer(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, worker: Any, tgi: Any
) -> None:
    from tertulia.bootstrap import build_router

    services = policy_services(settings, stack_env, tmp_path / "policy.toml", POLICY, own_queue=False)
    router = build_router(services)
    tgi.reset()
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    chat = console_as(services, router, f"u{uuid.uuid4().hex[:8]}")
    job_id = chat.submit("/chat write a lot")
    wait_until(lambda: tgi.generation_requests(), timeout=20)  # the answer streams now
    refused = router.click(Click(kind=STOP, job_id=job_id, who=clicker("carla")))
    assert refused.refused
    stopped = router.click(Click(kind=STOP, job_id=job_id, who=clicker("boss")))
    assert stopped.text == catalogue.text("control_stopping", "en") and not stopped.refused
    assert chat.follow(job_id).endswith(catalogue.text("answer_stopped", "en"))
    wait_until(lambda: tgi.disconnects, timeout=10)
