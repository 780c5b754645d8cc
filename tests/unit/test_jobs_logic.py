from __future__ import annotations

import io
import json
from typing import Any

import pytest

from core import instructions
from core.attachments import extract_text
from core.entities import ENTITIES_SCHEMA, EntitiesParseError, parse_entities, render_entities
from core.errors import InputError
from core.instructions import ensure_code_block
from core.runner import chat_safe_reason
from core.summarize import chunk_text, map_reduce


def test_entities_render_as_grouped_list() -> None:
    raw = json.dumps(
        {
            "entities": [
                {"text": "Ada Lovelace", "type": "person"},
                {"text": "London", "type": "location"},
                {"text": "ada lovelace", "type": "person"},
                {"text": "Analytical Engine", "type": "machine"},
            ]
        }
    )
    entities = parse_entities(raw)
    assert entities == [("Ada Lovelace", "person"), ("London", "location"), ("Analytical Engine", "other")]
    shown = render_entities(entities, "en")
    assert shown.splitlines() == [
        "Entities found:",
        "- **People**: Ada Lovelace",
        "- **Places**: London",
        "- **Other**: Analytical Engine",
    ]
    assert render_entities(entities, "es").splitlines()[1] == "- **Personas**: Ada Lovelace"
    assert ENTITIES_SCHEMA["properties"]["entities"]["items"]["properties"]["type"]["enum"][0] == "person"


def test_entities_that_do_not_parse_are_an_error() -> None:
    with pytest.raises(EntitiesParseError):
        parse_entities("Sure! Here are the entities: Ada")


def test_chunks_fit_and_keep_all_text() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "Words go here. " * 30 for i in range(20))
    chunks = chunk_text(text, max_chars=1000)
    assert len(chunks) > 5 and all(len(c) <= 1000 for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")


SUMMARY: dict[str, Any] = {
    "whole": instructions.summarize,
    "part": lambda text, _number: instructions.summarize(text, partial=True),
    "combine": instructions.combine_summaries,
}


def test_map_reduce_summarises_parts_then_combines() -> None:
    calls: list[str] = []

    def count(messages: tuple) -> int:  # type: ignore[type-arg]
        return sum(len(m.content.split()) for m in messages)

    def collect(messages: tuple) -> str:  # type: ignore[type-arg]
        calls.append(messages[-1].content)
        return f"summary {len(calls)}"

    text = "\n\n".join(f"Sentence about topic number {i} is here." for i in range(400))
    final = map_reduce(text, budget_tokens=300, count_tokens=count, collect=collect, **SUMMARY)
    assert len(calls) > 1
    assert all(c.startswith("Summarize this part") for c in calls)
    assert "Part 1: summary 1" in final[-1].content and count(final) <= 300


def test_short_text_is_one_request() -> None:
    final = map_reduce("short text", budget_tokens=300, count_tokens=lambda m: 10, collect=lambda m: "x", **SUMMARY)
    assert "short text" in final[-1].content


def test_attachments_become_text() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Quarterly report for Acme")
    buffer = io.BytesIO()
    document.save(buffer)
    assert "Quarterly report for Acme" in extract_text("r.docx", buffer.getvalue(), max_bytes=10**6)
    assert extract_text("n.md", b"# Title\nbody", max_bytes=100) == "# Title\nbody"
    assert "Hello PDF" in extract_text("p.pdf", minimal_pdf("Hello PDF"), max_bytes=10**6)
    with pytest.raises(InputError) as err:
        extract_text("big.txt", b"x" * 101, max_bytes=100)
    assert err.value.key == "file_too_large"
    with pytest.raises(InputError) as err:
        extract_text("broken.pdf", b"%PDF-1.4 nonsense", max_bytes=1000)
    assert err.value.key == "file_unreadable"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, built by hand so the test needs no fixture file."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize(
    ("answer", "prompt", "expected_start"),
    [
        ("print('hi')", "hello world in python", "```python\nprint('hi')"),
        ("```\nls\n```", "list files in bash", "```bash\nls"),
        ("```go\nfunc main() {}\n```", "anything", "```go"),
    ],
)
def test_code_answers_are_fenced_with_a_language(answer: str, prompt: str, expected_start: str) -> None:
    assert ensure_code_block(answer, prompt).startswith(expected_start)


def test_rejection_reasons_shown_in_chat_carry_no_urls() -> None:
    err = ValueError("422 for url http://user:secret@tgi:80/generate_stream: inputs too long\nTraceback...")
    assert chat_safe_reason(err) == "422 for url <server> inputs too long"
    assert chat_safe_reason(ValueError("")) == "rejected"
