"""Attachments become text here, and only here."""

from __future__ import annotations

import io
from pathlib import PurePath

from core.errors import InputError
from core.messages import Attachment

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n = n / 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def suffix_of(name: str) -> str:
    return PurePath(name).suffix.lower()


def check_attachment(attachment: Attachment, *, max_bytes: int) -> None:
    """Refuse early, from metadata alone, what we will not be able to read."""
    if suffix_of(attachment.name) not in SUPPORTED_SUFFIXES:
        raise InputError("file_unsupported", name=attachment.name, types=", ".join(SUPPORTED_SUFFIXES))
    if attachment.size > max_bytes:
        raise InputError("file_too_large", name=attachment.name, limit=human_size(max_bytes))


def extract_text(name: str, data: bytes, *, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise InputError("file_too_large", name=name, limit=human_size(max_bytes))
    suffix = suffix_of(name)
    try:
        if suffix in (".txt", ".md"):
            text = data.decode("utf-8", errors="replace")
        elif suffix == ".pdf":
            text = _pdf_text(data)
        elif suffix == ".docx":
            text = _docx_text(data)
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


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)


def _docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)
