"""The Discord Responder and delivery against Discord-shaped HTTP answers (httpx.MockTransport
at the network boundary; no server)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bots.discord.address import DiscordAddress, Interaction
from bots.discord.chains import ReplyChains
from bots.discord.delivery import ORIGINAL, DiscordDelivery, DiscordResponder
from bots.discord.limits import INTERACTION_TOKEN_TTL, MESSAGE_MAX_CHARS
from bots.discord.rest import DiscordRest
from core.delivery import StreamingReply
from core.errors import BadRequest, Forbidden, InputError, RetryAfter, TransientDeliveryError
from core.jobs import Job
from core.messages import Attachment, InboundMessage
from core.splitter import open_fence
from tests.support.memory import ManualBudget, MemoryKV

API = "https://discord.test/api/v10"
TOKEN = "interaction-token-secret"
APP = "1100"
CHANNEL = "2200"
Answer = Callable[[httpx.Request], httpx.Response]


class Discord:
    """Answers like Discord; ``script`` queues special answers for the next requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.scripted: list[Answer] = []
        self.shown: dict[str, str] = {}  # message id ("@original" too) -> its text, in creation order
        self._ids = itertools.count(9000)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.scripted:
            return self.scripted.pop(0)(request)
        body = json.loads(request.content) if request.content else {}
        if request.method == "POST" and request.url.path.endswith("/typing"):
            return httpx.Response(204)
        edited = request.method == "PATCH"
        message_id = request.url.path.rsplit("/", 1)[1] if edited else str(next(self._ids))
        self.shown[message_id] = body.get("content", "")
        return httpx.Response(200, json={"id": message_id, "content": self.shown[message_id], "channel_id": CHANNEL})

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path.removeprefix("/api/v10")) for r in self.requests]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) if r.content else {} for r in self.requests]


def rate_limited(retry_after: float, *, header_only: bool = False) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        if header_only:
            return httpx.Response(429, headers={"Retry-After": "3"}, text="slow down")
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        return httpx.Response(429, json=body, headers={"Retry-After": "2", "X-RateLimit-Scope": "user"})

    return answer


def error(status: int, code: int) -> Answer:
    return lambda request: httpx.Response(status, json={"message": "no", "code": code})


INTERACTION, CHANNEL_MODE = "interaction", "channel"


def make_job(*, mode: str = INTERACTION, created: float | None = None, thread: str | None = None,
             args: dict[str, str] | None = None, is_dm: bool = False) -> Job:
    if mode == INTERACTION:
        address = DiscordAddress(channel_id=int(CHANNEL), interaction=Interaction(
            application_id=int(APP), interaction_id=77, token=TOKEN,
            created_at=time.time() if created is None else created, response_message_id=5000))
    else:
        address = DiscordAddress(channel_id=int(CHANNEL), message_id=4000)
    message = InboundMessage(platform="discord", workspace="G1", channel=CHANNEL, user="U1", text="/chat hi",
                             thread=thread, is_dm=is_dm, address=address)
    return Job(kind="chat", message=message, scope="s", args=args or {})


def keys(*parts: str) -> str:
    return ":".join(("t", *parts))


@pytest.fixture
def discord() -> Discord:
    return Discord()


def rest_for(discord: Discord) -> DiscordRest:
    return DiscordRest(base_url=API, token="bot-secret", transport=httpx.MockTransport(discord))


def responder(discord: Discord, job: Job, *, refs: list[str] | None = None,
              chains: ReplyChains | None = None, clock: Callable[[], float] = time.time) -> DiscordResponder:
    return DiscordResponder(rest=rest_for(discord), job=job, chains=chains or ReplyChains(memory=MemoryKV()),
                            stored_refs=refs or [], clock=clock)


def test_the_first_piece_edits_the_original_and_later_pieces_are_follow_ups(discord: Discord) -> None:
    r = responder(discord, make_job())
    assert r.post("one") == ORIGINAL
    second = r.post("two")
    r.update(second, "two more")
    assert discord.calls() == [
        ("PATCH", f"/webhooks/{APP}/{TOKEN}/messages/@original"),
        ("POST", f"/webhooks/{APP}/{TOKEN}"),
        ("PATCH", f"/webhooks/{APP}/{TOKEN}/messages/{second.removeprefix('w:')}"),
    ]
    assert discord.requests[1].url.params["wait"] == "true"
    # Interaction webhooks are authorised by their token; the bot token never goes there.
    assert all("authorization" not in r.headers for r in discord.requests)
    assert all(b["allowed_mentions"] == {"parse": []} for b in discord.bodies())


def test_identical_or_empty_edits_are_never_sent(discord: Discord) -> None:
    r = responder(discord, make_job())
    ref = r.post("same")
    r.update(ref, "same")
    r.update(ref, "   ")
    r.finish(ref, "same")
    assert len(discord.requests) == 1


def test_a_retried_job_does_not_overwrite_the_original_with_a_new_piece(discord: Discord) -> None:
    r = responder(discord, make_job(), refs=[ORIGINAL])
    ref = r.post("second piece")
    assert ref.startswith("w:")
    assert discord.calls() == [("POST", f"/webhooks/{APP}/{TOKEN}")]


def test_429_raises_retry_after_with_discords_precise_seconds(discord: Discord) -> None:
    r = responder(discord, make_job())
    discord.scripted = [rate_limited(1.234), rate_limited(0, header_only=True)]
    with pytest.raises(RetryAfter) as first:
        r.post("x")
    assert first.value.seconds == pytest.approx(1.234)
    with pytest.raises(RetryAfter) as second:
        r.post("x")
    assert second.value.seconds == 3.0


@pytest.mark.parametrize(("status", "code", "kind"), [
    (500, 0, TransientDeliveryError), (502, 0, TransientDeliveryError),
    (403, 50013, Forbidden), (400, 50035, BadRequest),
])
def test_errors_map_onto_the_core_tree(discord: Discord, status: int, code: int, kind: type[Exception]) -> None:
    r = responder(discord, make_job(mode=CHANNEL_MODE))
    discord.scripted = [error(status, code)]
    with pytest.raises(kind):
        r.post("x")


def test_a_network_fault_is_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    rest = DiscordRest(base_url=API, token="t", transport=httpx.MockTransport(refuse))
    r = DiscordResponder(rest=rest, job=make_job(), chains=ReplyChains(memory=MemoryKV()), stored_refs=[])
    with pytest.raises(TransientDeliveryError):
        r.post("x")


def test_a_job_that_would_outlive_the_token_answers_in_the_channel(discord: Discord) -> None:
    old = time.time() - INTERACTION_TOKEN_TTL + 60  # one minute of token life left
    r = responder(discord, make_job(created=old))
    assert r.destination == f"channel:{CHANNEL}"
    r.start()
    ref = r.post("late answer")
    assert ref.startswith("c:")
    assert discord.calls() == [("POST", f"/channels/{CHANNEL}/typing"), ("POST", f"/channels/{CHANNEL}/messages")]
    body = discord.bodies()[1]
    assert body["message_reference"] == {"message_id": "5000", "fail_if_not_exists": False}
    assert discord.requests[1].headers["authorization"] == "Bot bot-secret"


def test_a_token_that_dies_mid_stream_moves_the_piece_to_the_channel(discord: Discord) -> None:
    now = [time.time()]
    r = responder(discord, make_job(), clock=lambda: now[0])
    ref = r.post("begin")
    discord.scripted = [error(401, 50027)]  # Invalid Webhook Token
    r.update(ref, "begin and more")
    r.finish(ref, "begin and more, the end")
    paths = discord.calls()
    assert paths[1] == ("PATCH", f"/webhooks/{APP}/{TOKEN}/messages/@original")
    assert paths[2] == ("POST", f"/channels/{CHANNEL}/messages")
    assert paths[3][0] == "PATCH" and paths[3][1].startswith(f"/channels/{CHANNEL}/messages/")
    assert discord.bodies()[3]["content"] == "begin and more, the end"


def test_a_token_near_expiry_is_not_used(discord: Discord) -> None:
    start = time.time()
    now = [start]
    r = responder(discord, make_job(created=start), clock=lambda: now[0])
    ref = r.post("begin")
    now[0] = start + INTERACTION_TOKEN_TTL - 5
    r.finish(ref, "begin, end")
    assert discord.calls()[-1] == ("POST", f"/channels/{CHANNEL}/messages")


def test_mention_answers_reply_to_the_user_and_join_its_chain(discord: Discord) -> None:
    redis = MemoryKV()
    chains = ReplyChains(memory=redis)
    r = responder(discord, make_job(mode=CHANNEL_MODE, thread="4000"), chains=chains)
    first = r.post("a")
    second = r.post("b")
    bodies = discord.bodies()
    assert bodies[0]["message_reference"]["message_id"] == "4000"
    assert "message_reference" not in bodies[1]  # one reply; the rest follows it
    assert chains.root_of(first[2:]) == "4000" and chains.root_of(second[2:]) == "4000"
    assert r.destination == f"channel:{CHANNEL}"


def test_the_webhook_budget_key_does_not_contain_the_token(discord: Discord) -> None:
    r = responder(discord, make_job())
    assert r.destination.startswith("webhook:") and TOKEN not in r.destination


def code_answer(blocks: int) -> str:
    parts = []
    for n in range(blocks):
        parts.append(f"Step {n} explains the function in some detail, so the text grows.\n\n"
                     f"```python\ndef f{n}(x):\n" + "".join(f"    x = x * {i} + {n}\n" for i in range(8))
                     + "    return x\n```\n")
    return "\n".join(parts)


def test_a_long_answer_lands_as_ordered_pieces_with_closed_code_blocks(discord: Discord) -> None:
    answer = code_answer(30)
    assert len(answer) > 5000
    r = responder(discord, make_job())
    reply = StreamingReply(responder=r, budget=ManualBudget(), budget_key=r.destination, sleep=lambda s: None)
    for end in range(200, len(answer), 700):
        reply.feed(answer[:end])
    reply.finish(answer)
    assert all(0 < len(b["content"]) <= MESSAGE_MAX_CHARS for b in discord.bodies())
    pieces = list(discord.shown.values())
    assert next(iter(discord.shown)) == "@original"
    assert len(pieces) >= 3
    assert all(open_fence(p) is None for p in pieces)
    assert "".join(pieces).replace("\n", "").replace("```python", "").replace("```", "") == \
        answer.replace("\n", "").replace("```python", "").replace("```", "")


def test_fetch_file_respects_the_size_limit_and_sends_no_token_to_the_cdn() -> None:
    seen: list[httpx.Request] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"x" * 100)

    delivery = DiscordDelivery(rest=DiscordRest(base_url=API, token="bot-secret", transport=httpx.MockTransport(cdn)),
                               chains=ReplyChains(memory=MemoryKV()), load_refs=lambda _id: [])
    small = Attachment(name="a.txt", size=100, url="https://cdn.discordapp.test/attachments/1/2/a.txt?ex=1")
    assert delivery.fetch_file(small, max_bytes=1000) == b"x" * 100
    assert "authorization" not in seen[0].headers
    with pytest.raises(InputError) as too_big:
        delivery.fetch_file(small, max_bytes=50)
    assert too_big.value.key == "file_too_large"


def test_read_source_lists_recent_messages_oldest_first(discord: Discord) -> None:
    history = [
        {"id": "3", "content": "third", "author": {"username": "bo", "global_name": "Bo"}},
        {"id": "2", "content": "", "author": {"username": "bot"}},
        {"id": "1", "content": "first", "author": {"username": "ana", "global_name": None}},
    ]
    discord.scripted = [lambda request: httpx.Response(200, json=history)]
    delivery = DiscordDelivery(rest=rest_for(discord), chains=ReplyChains(memory=MemoryKV()),
                               load_refs=lambda _id: [])
    job = make_job(args={"source": "channel", "messages": "500"})
    assert delivery.read_source(job) == "ana: first\nBo: third"
    request = discord.requests[0]
    assert request.url.path == f"/api/v10/channels/{CHANNEL}/messages"
    assert request.url.params["limit"] == "100"  # Discord's maximum per call


def test_httpx_request_logs_do_not_show_interaction_tokens(discord: Discord, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="httpx"):
        responder(discord, make_job()).post("hello")
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "httpx")
    assert "/messages/@original" in logged
    assert TOKEN not in logged
