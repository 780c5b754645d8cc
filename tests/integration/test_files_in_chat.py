"""Files and images in a chat turn, end to end: a platform fake (Slack, Telegram, the console)
-> router -> Redis -> a real Celery worker -> the fake model servers."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import base64
import itertools
import random
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import catalogue
from fakes import tgi_content
from fakes.slack_api import TEAM_ID, FakeSlackAPI
from fakes.telegram_api import FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_updates import user
from tests.conftest import wait_until
from tests.integration.conftest import router_for
from tests.integration.console_support import Transcript
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    mention,
    slack_api,
    slack_http,
    slack_server,
)

pytestmark = pytest.mark.integration
_ids = itertools.count(random.randint(10**6, 10**8) * 10)


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG: signature, IHDR, one IDAT of grey pixels, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def console(services: Any, worker: Any, tgi: Any, tgi_second: Any) -> Iterator[Transcript]:
    from tertulia.bootstrap import build_router

    tgi.reset()
    tgi_second.reset()
    yield Transcript(services=services, router=build_router(services))
    tgi.reset()
    tgi_second.reset()


# --- text files join the turn ------------------------------------------------------------


def test_a_mention_with_a_text_file_sends_the_files_text_to_the_model(
    slack_http: SlackHttp, slack_api: FakeSlackAPI, worker: Any, tgi: Any
) -> None:
    tgi.reset()
    info = slack_api.add_file("F1", "minutes.md", b"# Minutes\nThe budget for the kiln is 4,200 euros.")
    tgi.script("The kiln budget is 4,200 euros.")
    c = f"C{time.time_ns()}"
    assert slack_http.event(mention("what does this say about the kiln?", ts="9.1", channel=c, files=[info]))[0] == 200
    wait_until(lambda: [m for m in slack_api.thread(c, "9.1") if m.text == "The kiln budget is 4,200 euros."],
               timeout=40)
    prompt = tgi.prompts()[-1]
    assert "what does this say about the kiln?" in prompt
    assert "The budget for the kiln is 4,200 euros." in prompt and '"minutes.md"' in prompt


def test_a_telegram_document_with_a_caption_joins_the_chat_turn(
    tg: FakeTelegram, telegram_config: Any, services: Any, worker: Any, tgi: Any
) -> None:
    tgi.reset()
    tg.reset()
    runner = AdapterRunner(config=telegram_config, router_for=router_for(services), dedupe=services.dedupe).start()
    try:
        ana = user(next(_ids), "Ana")
        chat = tg.private_chat(ana)
        document = tg.add_file(b"Shopping list: flour, eggs, saffron.", name="list.txt")
        tgi.script("You need saffron.")
        tg.user_message(chat, ana, None, caption="what spice is on it?", document=document)
        tg.wait_for(lambda: tg.bot_texts(chat["id"]) == ["You need saffron."], timeout=40)
    finally:
        runner.stop()
    assert "Shopping list: flour, eggs, saffron." in tgi.prompts()[-1]


def test_a_file_too_long_for_the_prompt_is_cut_with_a_note_and_memory_keeps_only_its_name(
    console: Transcript, tgi: Any, tmp_path: Path
) -> None:
    tgi.set_limits(max_input_tokens=400, max_total_tokens=800)
    report = tmp_path / "report.txt"
    lines = [f"Line {i} of the quarterly report says nothing of note." for i in range(1, 200)]
    report.write_text("\n".join([*lines, "The last line holds the SECRET-ENDING."]))
    tgi.script("It is a long report.", "You asked about a report.")
    answer = console.say(f"/chat summarise @{report}")
    note = catalogue.text("file_cut", "en", names='"report.txt"')
    assert answer == f"It is a long report.\n\n{note}"
    prompt = tgi.prompts()[-1]
    assert "Line 1 of the quarterly report" in prompt and "SECRET-ENDING" not in prompt
    assert tgi_content.count_tokens(prompt) <= 400
    console.say("/chat what did I send?")
    follow_up = tgi.prompts()[-1]
    assert "(attached: report.txt)" in follow_up  # the memory names the file...
    assert "Line 1 of the quarterly report" not in follow_up  # ...and keeps none of its text


def test_the_cut_note_is_in_spanish_for_a_spanish_speaker(services: Any, worker: Any, tgi: Any,
                                                          tmp_path: Path) -> None:
    from tertulia.bootstrap import build_router

    tgi.reset()
    tgi.set_limits(max_input_tokens=300, max_total_tokens=600)
    chat = Transcript(services=services, router=build_router(services), locale="es")
    (tmp_path / "informe.md").write_text(" ".join(f"palabra{i}" for i in range(2000)))
    tgi.script("Es largo.")
    answer = chat.say(f"/chat resume @{tmp_path / 'informe.md'}")
    tgi.reset()
    assert answer.endswith(catalogue.text("file_cut", "es", names='"informe.md"'))


# --- images: a vision model sees them, a text-only one says it can't ---------------------


def test_an_image_reaches_a_vision_model_as_an_image_part(
    console: Transcript, tgi: Any, tgi_second: Any, tmp_path: Path
) -> None:
    picture = tmp_path / "kiln.png"
    picture.write_bytes(png())
    assert console.say("/model vision-test") == catalogue.text("model_set", "en", model="vision-test")
    tgi_second.script("A grey square.")
    assert console.say(f"/chat what is in @{picture}") == "A grey square."
    (request,) = tgi_second.generation_requests()
    assert request.path == "/v1/chat/completions" and request.body["model"] == "test-vision-model"
    user_turn = request.body["messages"][-1]
    assert user_turn["content"][0] == {"type": "text", "text": "what is in"}
    image = user_turn["content"][-1]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png()).decode()
    assert not tgi.generation_requests()


@pytest.mark.parametrize("caption", ["what is this?", None], ids=["with a caption", "alone"])
def test_a_telegram_photo_reaches_a_vision_model(
    tg: FakeTelegram, telegram_config: Any, services: Any, worker: Any, tgi: Any, tgi_second: Any, caption: str | None
) -> None:
    tgi.reset()
    tgi_second.reset()
    tg.reset()
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(200)
    runner = AdapterRunner(config=telegram_config, router_for=router_for(services), dedupe=services.dedupe).start()
    try:
        ana = user(next(_ids), "Ana")
        chat = tg.private_chat(ana)
        tg.user_message(chat, ana, "/model vision-test")
        tg.wait_for(lambda: len(tg.bot_texts(chat["id"])) == 1, timeout=20)
        tgi_second.script("A photo of nothing.")
        tg.user_message(chat, ana, None, caption=caption, photo=tg.add_photo(jpeg))
        tg.wait_for(lambda: tg.bot_texts(chat["id"])[1:] == ["A photo of nothing."], timeout=40)
    finally:
        runner.stop()
    (request,) = tgi_second.generation_requests()
    urls = tgi_content.images_in(request.body["messages"])
    assert urls == ["data:image/jpeg;base64," + base64.b64encode(jpeg).decode()]  # the largest size


def test_an_image_for_a_text_only_model_gets_a_clear_refusal_and_no_model_call(
    console: Transcript, tgi: Any, tgi_second: Any, tmp_path: Path
) -> None:
    picture = tmp_path / "kiln.png"
    picture.write_bytes(png())
    answer = console.say(f"/chat what is in @{picture}")
    assert answer == catalogue.text("image_needs_vision", "en", model="tgi", models="`vision-test`")
    assert not tgi.generation_requests() and not tgi_second.generation_requests()


# --- an image alone (no words) is a chat turn about it, on every platform ------------------


@pytest.fixture
def u1_dm_model(services: Any) -> Iterator[None]:
    """U1's DM is one conversation across test modules: the model chosen here must not
    outlive the test (test_slack_jobs expects U1's DM on the default model)."""
    yield
    services.choices.clear(f"slack:{TEAM_ID}:dm:U1")


def test_a_slack_image_alone_in_a_dm_reaches_a_vision_model(
    slack_http: SlackHttp, slack_api: FakeSlackAPI, worker: Any, tgi: Any, tgi_second: Any, u1_dm_model: None
) -> None:
    tgi.reset()
    tgi_second.reset()
    d = f"D{time.time_ns()}"

    def dm(ts: str, text: str, **extra: Any) -> None:
        event = {"type": "message", "channel_type": "im", "channel": d, "user": "U1", "text": text, "ts": ts, **extra}
        assert slack_http.event(event)[0] == 200

    dm("30.1", "/model vision-test")
    wait_until(lambda: slack_api.bot_messages(d), timeout=20)
    tgi_second.script("A grey square.")
    info = slack_api.add_file("F30", "kiln.png", png())
    dm("30.2", "", subtype="file_share", files=[info])
    wait_until(lambda: [m for m in slack_api.bot_messages(d) if m.text == "A grey square."], timeout=40)
    (request,) = tgi_second.generation_requests()
    sent = tgi_content.images_in(request.body["messages"])
    assert sent == ["data:image/png;base64," + base64.b64encode(png()).decode()]
    words = request.body["messages"][-1]["content"][0]
    assert words == {"type": "text", "text": catalogue.text("image_alone", "en-US")}
    assert not tgi.generation_requests()


def test_a_slack_mention_with_an_image_alone_and_a_text_only_model_is_refused(
    slack_http: SlackHttp, slack_api: FakeSlackAPI, worker: Any, tgi: Any
) -> None:
    tgi.reset()
    info = slack_api.add_file("F31", "kiln.png", png())
    c = f"C{time.time_ns()}"
    assert slack_http.event(mention("", ts="31.1", channel=c, files=[info]))[0] == 200
    refusal = catalogue.text("image_needs_vision", "en-US", model="tgi", models="`vision-test`")
    wait_until(lambda: [m for m in slack_api.thread(c, "31.1") if m.text == refusal], timeout=40)
    assert not tgi.generation_requests()
