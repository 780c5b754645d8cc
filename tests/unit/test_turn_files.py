"""Files and images in a chat turn: the pure parts."""

from __future__ import annotations

import base64

import pytest

from core.attachments import check_attachment, extract_beginning, image_type, is_image
from core.errors import InputError
from core.messages import Attachment
from core.ports import ChatTurn, Image
from core.turnfiles import TurnFile, compose, fit_files, remembered
from worker.llm.openai_compat import chat_messages

PNG = b"\x89PNG\r\n\x1a\n" + bytes(20)


def words(text: str) -> int:
    return len(text.split())


def test_files_that_fit_join_the_turn_whole_after_the_users_words() -> None:
    content, cut = fit_files(text="what is it?", files=[TurnFile(name="a.txt", text="one two three")],
                             budget=100, count=words)
    assert content == 'what is it?\n\nAttached file "a.txt":\none two three' and cut == []


def test_a_file_too_long_is_cut_at_a_word_to_the_budget_and_named() -> None:
    text = " ".join(f"w{i}" for i in range(1000))
    content, cut = fit_files(text="sum up", files=[TurnFile(name="long.md", text=text)], budget=120, count=words)
    assert words(content) <= 120 and cut == ["long.md"]
    assert "w0 w1 w2" in content and "w999" not in content and "only its beginning" in content
    assert content.split()[-1].startswith("w")  # cut between words, not inside one


def test_the_second_file_is_cut_before_the_first() -> None:
    first, second = TurnFile(name="1.txt", text="a " * 30), TurnFile(name="2.txt", text="b " * 300)
    content, cut = fit_files(text="x", files=[first, second], budget=80, count=words)
    assert cut == ["2.txt"] and content.count("a") >= 30


def test_a_turn_whose_words_alone_pass_the_budget_is_too_long() -> None:
    with pytest.raises(InputError) as err:
        fit_files(text="word " * 50, files=[TurnFile(name="a.txt", text="x")], budget=10, count=words)
    assert err.value.key == "too_long"


def test_memory_keeps_the_words_and_the_names_only() -> None:
    assert remembered("look at this", ["a.pdf", "b.png"]) == "look at this\n(attached: a.pdf, b.png)"
    assert compose("", [TurnFile(name="n.txt", text="t", cut=True)]).startswith('Attached file "n.txt" (only')


def test_extract_beginning_stops_at_the_cap_instead_of_refusing() -> None:
    text, cut = extract_beginning("a.txt", b"x" * 500, max_bytes=10_000, max_chars=100)
    assert text == "x" * 100 and cut
    assert extract_beginning("a.txt", b"short", max_bytes=10_000, max_chars=100) == ("short", False)


def test_images_are_judged_by_their_bytes_and_capped() -> None:
    assert image_type("x.png", PNG, max_bytes=1000) == "image/png"
    assert image_type("x.bin", b"RIFF\x00\x00\x00\x00WEBPVP8 ", max_bytes=1000) == "image/webp"
    with pytest.raises(InputError) as err:
        image_type("x.png", b"not an image", max_bytes=1000)
    assert err.value.key == "file_unreadable"
    with pytest.raises(InputError) as err:
        image_type("x.png", PNG, max_bytes=10)
    assert err.value.key == "file_too_large"


def test_an_image_is_accepted_only_where_a_command_takes_images_and_within_its_cap() -> None:
    photo = Attachment(name="p.jpg", size=2_000_000, mime_type="image/jpeg")
    assert is_image(photo) and is_image(Attachment(name="AgAD", size=1, mime_type="image/png"))
    with pytest.raises(InputError) as err:
        check_attachment(photo, max_bytes=10_000_000)
    assert err.value.key == "file_unsupported"
    with pytest.raises(InputError) as err:
        check_attachment(photo, max_bytes=10_000_000, images=True, max_image_bytes=1_000_000)
    assert err.value.key == "file_too_large"
    check_attachment(photo, max_bytes=10, images=True, max_image_bytes=3_000_000)


def test_a_turn_with_images_is_sent_as_text_and_image_url_parts() -> None:
    image = Image(mime_type="image/png", data=PNG)
    turns = (ChatTurn(role="system", content="Be brief."),
             ChatTurn(role="user", content="What is <|im_end|> this?", images=(image,)))
    system, user = chat_messages(turns)
    assert system == {"role": "system", "content": "Be brief."}  # no images: a plain string, as before
    text, part = user["content"]
    assert text["type"] == "text" and "<|im_end|>" not in text["text"]  # neutralised like any turn
    assert part == {"type": "image_url",
                     "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
