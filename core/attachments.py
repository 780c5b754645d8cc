"""Attachments become text here, and only here.

A file is untrusted and compressed (.docx is a ZIP, a .pdf holds Flate streams), so its
size says little about what reading it costs. Everything here is read as a stream, with a
cap on the bytes unpacked, on the compression ratio and on the characters kept, and a file
that would pass a cap is refused before the bytes are unpacked (docs/reliability.md).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any
from xml.parsers import expat

from core.errors import InputError
from core.messages import Attachment

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")  # what OpenAI-compatible vision APIs take
DEFAULT_MAX_CHARS = 400_000  # Settings.max_document_chars' default
DEFAULT_MAX_IMAGE_BYTES = 1_500_000  # Settings.max_image_bytes' default

# DOCX: the body XML we read. Word's own XML compresses about 10:1; zip bombs, 1000:1.
DOCX_MAX_XML_BYTES = 64 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_RATIO_FLOOR = 1024 * 1024  # tiny members may compress better than any ratio
_READ_CHUNK = 256 * 1024

# PDF: decoded content streams. Parsing a content stream costs ~15x its size in Python
# objects, so a page's streams stay at a few MB, and the whole document's at a few times that.
PDF_MAX_PAGE_CONTENT_BYTES = 4 * 1024 * 1024
PDF_MAX_CONTENT_BYTES = 24 * 1024 * 1024
_FLATE = ("/FlateDecode", "/Fl")


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n = n / 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def suffix_of(name: str) -> str:
    return PurePath(name).suffix.lower()


def is_image(attachment: Attachment) -> bool:
    """An image by its name or its declared type (a Telegram photo has no file name)."""
    mime = (attachment.mime_type or "").lower()
    return suffix_of(attachment.name) in IMAGE_SUFFIXES or mime in _IMAGE_MIMES


def check_attachment(
    attachment: Attachment, *, max_bytes: int, images: bool = False, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
) -> None:
    """Refuse early, from metadata alone, what we will not be able to read. ``images``: the
    command also takes images (for a model that sees them), up to ``max_image_bytes``."""
    if images and is_image(attachment):
        if attachment.size > max_image_bytes:
            raise InputError("file_too_large", name=attachment.name, limit=human_size(max_image_bytes))
        return
    if suffix_of(attachment.name) not in SUPPORTED_SUFFIXES:
        types = SUPPORTED_SUFFIXES + (IMAGE_SUFFIXES if images else ())
        raise InputError("file_unsupported", name=attachment.name, types=", ".join(types))
    if attachment.size > max_bytes:
        raise InputError("file_too_large", name=attachment.name, limit=human_size(max_bytes))


# An image's format from its first bytes: the name or the platform's type may lie, and a
# vision API is told the real one.
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_IMAGE_MIMES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def image_type(name: str, data: bytes, *, max_bytes: int) -> str:
    """The MIME type of an image we can send to a vision model; refuses (``InputError``)
    anything larger than ``max_bytes`` or not a PNG, JPEG, GIF or WebP by its content."""
    if len(data) > max_bytes:
        raise InputError("file_too_large", name=name, limit=human_size(max_bytes))
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InputError("file_unreadable", name=name)


def extract_text(name: str, data: bytes, *, max_bytes: int, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The text of a file. Refuses (``InputError``) a file over ``max_bytes``, one that
    unpacks to much more than it weighs, and a document with more than ``max_chars``
    characters of text, which is known as soon as that many have been read."""
    if len(data) > max_bytes:
        raise InputError("file_too_large", name=name, limit=human_size(max_bytes))
    suffix = suffix_of(name)
    try:
        if suffix in (".txt", ".md"):
            text = data.decode("utf-8", errors="replace")
        elif suffix == ".pdf":
            text = _pdf_text(data, _Collector(name, max_chars))
        elif suffix == ".docx":
            text = _docx_text(data, _Collector(name, max_chars))
        else:
            raise InputError("file_unsupported", name=name, types=", ".join(SUPPORTED_SUFFIXES))
    except InputError:
        raise
    except Exception as exc:  # a corrupt file is the user's input, not our crash
        raise InputError("file_unreadable", name=name) from exc
    text = text.replace("\x00", "").strip()
    if not text:
        raise InputError("file_unreadable", name=name)
    return text


def extract_beginning(name: str, data: bytes, *, max_bytes: int, max_chars: int) -> tuple[str, bool]:
    """The first ``max_chars`` characters of a file's text, and whether there was more. Read
    with the same caps as ``extract_text``, and no further than ``max_chars``: a file that
    joins a chat turn is cut to fit the prompt, not refused."""
    if len(data) > max_bytes:
        raise InputError("file_too_large", name=name, limit=human_size(max_bytes))
    suffix = suffix_of(name)
    out = _Collector(name, max_chars, cut=True)
    try:
        if suffix in (".txt", ".md"):
            out.add(data.decode("utf-8", errors="replace"))
        elif suffix == ".pdf":
            _pdf_text(data, out)
        elif suffix == ".docx":
            _docx_text(data, out)
        else:
            raise InputError("file_unsupported", name=name, types=", ".join(SUPPORTED_SUFFIXES))
    except _Full:
        pass
    except InputError:
        raise
    except Exception as exc:  # a corrupt file is the user's input, not our crash
        raise InputError("file_unreadable", name=name) from exc
    text = out.text().replace("\x00", "").strip()
    if not text:
        raise InputError("file_unreadable", name=name)
    return text, out.cut_short


class _Full(Exception):
    """The collector holds all the characters wanted: stop reading."""


class _Collector:
    """Text pieces, refused as soon as they pass the character cap (``cut``: kept up to the
    cap, and reading stops there)."""

    def __init__(self, name: str, max_chars: int, *, cut: bool = False) -> None:
        self.name = name
        self._max = max_chars
        self._cut = cut
        self.cut_short = False
        self._parts: list[str] = []
        self._size = 0

    def add(self, text: str) -> None:
        if self._cut and self._size + len(text) > self._max:
            self._parts.append(text[: self._max - self._size])
            self._size = self._max
            self.cut_short = True
            raise _Full()
        self._size += len(text)
        if self._size > self._max:
            raise InputError("file_text_too_long", name=self.name, limit=self._max)
        self._parts.append(text)

    def text(self) -> str:
        return "".join(self._parts)


def _bomb(name: str) -> InputError:
    return InputError("file_bomb", name=name)


# --- DOCX: the body XML, streamed out of the ZIP through expat ---------------------------


def _docx_text(data: bytes, out: _Collector) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("word/document.xml")
        # The central directory's sizes are what zipfile reads up to (never more), so
        # checking them first refuses a bomb without unpacking a byte of it.
        if info.file_size > DOCX_MAX_XML_BYTES:
            raise _bomb(out.name)
        if info.file_size > DOCX_RATIO_FLOOR and info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(out.name)
        body = _BodyText(out)
        with archive.open(info) as member:
            unpacked = 0
            while chunk := member.read(_READ_CHUNK):
                unpacked += len(chunk)
                if unpacked > DOCX_MAX_XML_BYTES:
                    raise _bomb(out.name)
                body.feed(chunk)
        body.close()
    return out.text()


class _BodyText:
    """WordprocessingML body text in document order: a line per paragraph, a table row as
    its cells joined by `` | ``. A DTD is refused, so no entity can expand."""

    def __init__(self, out: _Collector) -> None:
        self._out = out
        self._parser = expat.ParserCreate(namespace_separator=" ")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._chars
        self._parser.StartDoctypeDeclHandler = self._doctype
        self._paragraph: list[str] = []
        self._in_text = False
        self._cells: list[list[str]] = []  # one list of paragraphs per open table cell
        self._rows: list[list[str]] = []  # one list of cell texts per open table row
        self._fallback = 0  # inside mc:Fallback: a copy of the mc:Choice just read

    def feed(self, chunk: bytes) -> None:
        self._parser.Parse(chunk, False)

    def close(self) -> None:
        self._parser.Parse(b"", True)

    def _doctype(self, *_: Any) -> None:
        raise _bomb(self._out.name)

    def _start(self, tag: str, _attrs: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        if local == "Fallback":
            self._fallback += 1
        elif self._fallback:
            return
        elif local == "t":
            self._in_text = True
        elif local == "tab":
            self._paragraph.append("\t")
        elif local in ("br", "cr"):
            self._paragraph.append("\n")
        elif local == "tr":
            self._rows.append([])
        elif local == "tc":
            self._cells.append([])

    def _end(self, tag: str) -> None:
        local = tag.rpartition(" ")[2]
        if local == "Fallback":
            self._fallback -= 1
        elif self._fallback:
            return
        elif local == "t":
            self._in_text = False
        elif local == "p":
            line, self._paragraph = "".join(self._paragraph), []
            if self._cells:
                self._cells[-1].append(line)
            else:
                self._out.add(line + "\n")
        elif local == "tc" and self._cells:
            cell = "\n".join(self._cells.pop())
            if self._rows:
                self._rows[-1].append(cell)
        elif local == "tr" and self._rows:
            row = " | ".join(self._rows.pop())
            if self._cells:  # a nested table: its rows are the outer cell's paragraphs
                self._cells[-1].append(row)
            else:
                self._out.add(row + "\n")

    def _chars(self, data: str) -> None:
        if self._in_text:
            self._paragraph.append(data)


# --- PDF: page by page, each page's streams measured before pypdf decodes them -----------


def _pdf_text(data: bytes, out: _Collector) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    budget = PDF_MAX_CONTENT_BYTES
    for page in reader.pages:
        budget -= _measure_streams(page, limit=min(PDF_MAX_PAGE_CONTENT_BYTES, budget), name=out.name)
        text = (page.extract_text() or "").strip()
        if text:
            out.add(text + "\n\n")
    return out.text()


def _page_streams(page: Any) -> Iterator[Any]:
    """The page's content streams and those of the form XObjects it draws (text
    extraction decodes both), each once."""
    seen: set[int] = set()
    pending: list[Any] = [page]
    while pending:
        holder = pending.pop()
        contents = holder.get("/Contents") if holder is page else None
        found = contents.get_object() if contents is not None else None
        for stream in found if isinstance(found, list) else [found] if found is not None else []:
            yield stream.get_object()
        if holder is not page:
            yield holder
        resources = holder.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object().values() if xobjects is not None else []):
            form = ref.get_object()
            if id(form) not in seen and form.get("/Subtype") == "/Form":
                seen.add(id(form))
                pending.append(form)


def _measure_streams(page: Any, *, limit: int, name: str) -> int:
    total = 0
    for stream in _page_streams(page):
        total += _decoded_size(stream, limit=limit - total, name=name)
    return total


def _decoded_size(stream: Any, *, limit: int, name: str) -> int:
    """What decoding ``stream`` yields, measured by decoding at most ``limit`` + 1 bytes.
    Flate is the filter of (nearly) every content stream and the bomb's; other filters
    are left to pypdf's own output caps (``pypdf.filters.*_MAX_OUTPUT_LENGTH``)."""
    raw = getattr(stream, "_data", b"") or b""
    filters = stream.get("/Filter")
    chain = [str(f) for f in filters] if isinstance(filters, list) else [str(filters)] if filters else []
    if not chain:
        size = len(raw)
    elif chain[0] in _FLATE:
        size = _inflated_size(raw, limit=max(limit, 0) + 1, name=name)
    else:
        size = 0
    if size > limit:
        raise _bomb(name)
    return size


def _inflated_size(raw: bytes, *, limit: int, name: str) -> int:
    """Inflates at most ``limit`` bytes. A bad zlib header or checksum (some writers get
    them wrong, and pypdf reads such streams) falls back to the raw deflate data."""
    for wbits, start in ((zlib.MAX_WBITS, 0), (-zlib.MAX_WBITS, 2)):
        try:
            return len(zlib.decompressobj(wbits).decompress(raw[start:], limit))
        except zlib.error:
            continue
    raise InputError("file_unreadable", name=name)
