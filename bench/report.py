"""Benchmarks write their figures into docs/benchmarks.md, one section each."""

from __future__ import annotations

import datetime
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nFigures written by the scripts in `bench/`; re-run them to refresh a section.\n"


def write_section(title: str, body: str, *, command: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"## {title}\n\n`{command}` — {stamp}, Python {platform.python_version()} on {platform.machine()}\n\n{body}\n"
    )
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)
