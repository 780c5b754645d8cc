"""Bounded extraction: decompression bombs are refused early, in bounded memory and time;
ordinary documents still read; the character cap stops reading as soon as it is passed.

The bombs are built here, cheaply: a deflate block of one repetitive megabyte, made after a
full flush, is byte-identical each time, so thousands of copies make a valid stream that
inflates to gigabytes without ever compressing them."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from core import catalogue
from core.attachments import extract_beginning, extract_text
from core.errors import InputError

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
TEN_MB = 10 * MB
RSS_BOUND = 200 * MB
TIME_BOUND = 5.0

WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PARAGRAPH = b'<w:p><w:r><w:t xml:space="preserve">all work and no play makes a dull bot </w:t></w:r></w:p>'


def repeated_deflate(unit: bytes, copies: int, *, head: bytes = b"") -> bytes:
    """Raw deflate data of ``head`` then ``unit`` repeated ``copies`` times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(unit) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * copies + compressor.flush(zlib.Z_FINISH)


def repeated_adler32(unit: bytes, copies: int) -> int:
    """Adler-32 of ``unit`` repeated, from one pass over ``unit`` (RFC 1950's sums)."""
    base = 65521
    once = zlib.adler32(unit)
    total, weighted = (once & 0xFFFF) - 1, ((once >> 16) - len(unit)) % base
    a, b = 1, 0
    for _ in range(copies):
        a, b = (a + total) % base, (b + len(unit) * a + weighted) % base
    return (b << 16) | a


def zip_archive(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A ZIP from already-compressed members: (name, method, data, size, crc32)."""
    out = io.BytesIO()
    central = b""
    for name, method, data, size, crc in members:
        offset = out.tell()
        encoded = name.encode()
        fields = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out.write(b"PK\x03\x04" + fields + encoded + data)
        central += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHII", 0, 0, 0, 0, offset)
            + encoded
        )
    start = out.tell()
    out.write(central)
    out.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), start, 0))
    return out.getvalue()


def stored(name: str, data: bytes) -> tuple[str, int, bytes, int, int]:
    return name, 0, data, len(data), zlib.crc32(data)


def docx_bomb(target: int = TEN_MB - 64 * 1024) -> bytes:
    """A real Word package (python-docx's own) whose document.xml is one paragraph repeated
    into 1.5 GB (about 5 MB deflated), padded with an uncompressible image to ``target``
    bytes, the largest file users may send."""
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<w:document xmlns:w="{WORD_NS}"><w:body>'.encode()
    unit = PARAGRAPH * (MB // len(PARAGRAPH))
    copies = 1536
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(unit, crc)
    xml = ("word/document.xml", 8, repeated_deflate(unit, copies, head=head), len(head) + len(unit) * copies, crc)
    with zipfile.ZipFile(io.BytesIO(word_document("a template"))) as template:
        members = [xml if n == xml[0] else stored(n, template.read(n)) for n in template.namelist()]
    members.append(stored("word/media/image1.png", os.urandom(target - len(zip_archive(members)) - 256)))
    return zip_archive(members)


def pdf_bomb(target: int = TEN_MB - 64 * 1024) -> bytes:
    """A one-page PDF whose content stream is ~10 MB of Flate data inflating to gigabytes."""
    unit = b"0 0 m 1 1 l S\n" * (MB // 14)
    per_copy = len(repeated_deflate(unit, 2)) - len(repeated_deflate(unit, 1))
    copies = (target - 4096) // per_copy
    stream = b"\x78\xda" + repeated_deflate(unit, copies) + struct.pack(">I", repeated_adler32(unit, copies))
    return pdf_document([stream], flate=True)


def pdf_document(streams: list[bytes], *, flate: bool = False) -> bytes:
    """A PDF with one page per content stream, built by hand with a correct xref table."""
    pages = len(streams)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    font = 3 + 2 * pages
    for index, stream in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * index} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        flt = b" /Filter /FlateDecode" if flate else b""
        objects.append(b"<< /Length %d%s >>\nstream\n" % (len(stream), flt) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return pdf_objects(objects)


def pdf_objects(objects: list[bytes]) -> bytes:
    """Numbered objects (1 is the catalog) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_page(text: str) -> bytes:
    return f"BT /F1 12 Tf 72 700 Td ({text}) Tj ET".encode()


_MEASURE = """
import json, sys, time
import pypdf, xml.parsers.expat, zipfile  # loaded before the baseline: not the file's cost
from core.attachments import extract_text
from core.errors import InputError

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

name, path, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "rb") as f:
    data = f.read()
before, started = peak(), time.monotonic()
try:
    extract_text(name, data, max_bytes=max_bytes)
    key = None
except InputError as err:
    key = err.key
print(json.dumps({"key": key, "seconds": time.monotonic() - started, "growth": peak() - before}))
"""


def measure(tmp_path: Path, name: str, data: bytes) -> dict[str, object]:
    """Extract in a fresh process (this one's peak RSS is already high) and report its
    refusal key, time and peak-RSS growth. An address-space cap makes a regression fail
    fast instead of swapping the machine."""
    path = tmp_path / name
    path.write_bytes(data)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 * MB, 3 * 1024 * MB))

    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, name, str(path), str(TEN_MB)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name,build", [("bomb.docx", docx_bomb), ("bomb.pdf", pdf_bomb)])
def test_a_ten_megabyte_bomb_is_refused_in_bounded_memory_and_time(tmp_path: Path, name: str, build: object) -> None:
    data = build()  # type: ignore[operator]
    assert 9 * MB < len(data) <= TEN_MB
    result = measure(tmp_path, name, data)
    assert result["key"] == "file_bomb"
    assert isinstance(result["growth"], int) and result["growth"] < RSS_BOUND, result
    assert isinstance(result["seconds"], float) and result["seconds"] < TIME_BOUND, result


def test_the_refusal_is_localised() -> None:
    english = catalogue.text("file_bomb", "en", name="bomb.docx")
    spanish = catalogue.text("file_bomb", "es", name="bomb.docx")
    assert "bomb.docx" in english and "bomb.docx" in spanish and english != spanish
    assert catalogue.text("file_text_too_long", "es", name="a.pdf", limit=10) != catalogue.text(
        "file_text_too_long", "en", name="a.pdf", limit=10
    )


def word_document(*paragraphs: str, table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_reads_paragraphs_and_tables_in_order() -> None:
    data = word_document("Quarterly report", "Revenue grew.", table=[["Region", "Sales"], ["North", "12"]])
    text = extract_text("r.docx", data, max_bytes=TEN_MB)
    assert text.splitlines() == ["Quarterly report", "Revenue grew.", "Region | Sales", "North | 12"]


def test_a_document_past_the_character_cap_is_refused_once_the_cap_is_read() -> None:
    data = word_document(*["x" * 100 for _ in range(50)])
    assert len(extract_text("ok.docx", data, max_bytes=TEN_MB, max_chars=10_000)) > 5000
    with pytest.raises(InputError) as err:
        extract_text("long.docx", data, max_bytes=TEN_MB, max_chars=1000)
    assert (err.value.key, err.value.params) == ("file_text_too_long", {"name": "long.docx", "limit": 1000})

    pdf = pdf_document([text_page(f"Page number {i} says hello") for i in range(20)])
    assert "Page number 19 says hello" in extract_text("ok.pdf", pdf, max_bytes=TEN_MB)
    with pytest.raises(InputError) as err:
        extract_text("long.pdf", pdf, max_bytes=TEN_MB, max_chars=100)
    assert err.value.key == "file_text_too_long"


def test_a_pdf_or_docx_joining_a_chat_turn_is_cut_to_its_beginning_not_refused() -> None:
    """Files in a chat turn (core/turnfiles.py) read their beginning with the same parsers."""
    pdf = pdf_document([text_page(f"Page number {i} says hello") for i in range(20)])
    text, cut = extract_beginning("long.pdf", pdf, max_bytes=TEN_MB, max_chars=100)
    assert cut and text.startswith("Page number 0 says hello") and len(text) <= 100
    assert "Page number 19" not in text
    whole, cut = extract_beginning("ok.pdf", pdf, max_bytes=TEN_MB, max_chars=10_000)
    assert not cut and "Page number 19 says hello" in whole

    docx = word_document("Quarterly report", *[f"Paragraph {i} of the report." for i in range(50)])
    text, cut = extract_beginning("long.docx", docx, max_bytes=TEN_MB, max_chars=120)
    assert cut and text.startswith("Quarterly report\nParagraph 0 of the report.") and len(text) <= 120
    whole, cut = extract_beginning("ok.docx", docx, max_bytes=TEN_MB, max_chars=10_000)
    assert not cut and whole.endswith("Paragraph 49 of the report.")


def test_a_docx_with_a_dtd_is_refused() -> None:
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]>'
        b'<w:document xmlns:w="' + WORD_NS.encode() + b'"><w:body>'
        b"<w:p><w:r><w:t>&a;</w:t></w:r></w:p></w:body></w:document>"
    )
    with pytest.raises(InputError) as err:
        extract_text("dtd.docx", zip_archive([stored("word/document.xml", xml)]), max_bytes=TEN_MB)
    assert err.value.key == "file_bomb"


def test_a_bomb_inside_a_form_xobject_is_refused_too() -> None:
    # Text extraction also decodes the forms a page draws; 300 MB hidden in one is a bomb.
    unit = b"0 0 m 1 1 l S\n" * (MB // 14)
    form = b"\x78\xda" + repeated_deflate(unit, 300) + struct.pack(">I", repeated_adler32(unit, 300))
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /XObject << /X1 5 0 R >> >> >>")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page,
        b"<< /Length 6 >>\nstream\n/X1 Do\nendstream",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 9 9] /Length %d /Filter /FlateDecode >>\nstream\n"
        % len(form) + form + b"\nendstream",
    ]
    with pytest.raises(InputError) as err:
        extract_text("form.pdf", pdf_objects(objects), max_bytes=TEN_MB)
    assert err.value.key == "file_bomb"


def test_docx_text_in_alternate_content_is_read_once() -> None:
    mc = "http://schemas.openxmlformats.org/markup-compatibility/2006"
    xml = (
        f'<w:document xmlns:w="{WORD_NS}" xmlns:mc="{mc}"><w:body><w:p><w:r><w:t>Hello </w:t></w:r>'
        "<mc:AlternateContent><mc:Choice><w:t>box</w:t></mc:Choice><mc:Fallback><w:t>box</w:t></mc:Fallback>"
        "</mc:AlternateContent></w:p></w:body></w:document>"
    ).encode()
    assert extract_text("a.docx", zip_archive([stored("word/document.xml", xml)]), max_bytes=TEN_MB) == "Hello box"
