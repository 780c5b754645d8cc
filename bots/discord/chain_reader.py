"""A mention's reply chain read back over REST, as the model's history: everyone's
messages in it (not only the bot's exchanges), each with its author, and the text of the
files attached to them (.txt, .md, .pdf, .docx: the beginning of a long one).

The walk starts at the job's own message (so its author is named as the chain's messages
are) and follows ``message_reference`` one GET at a time, newest to oldest, up to
``CHAIN_MAX_MESSAGES``; a deleted message ends the chain there.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bots.discord.rest import DiscordBadRequest, DiscordForbidden, DiscordRest
from core.attachments import SUPPORTED_SUFFIXES, extract_beginning, suffix_of
from core.errors import InputError
from core.ports import ThreadPost, Transcript

log = logging.getLogger("tertulia.discord.chain")

CHAIN_MAX_MESSAGES = 30  # earlier messages than this are past any prompt budget anyway
CHAIN_FILE_SUFFIXES = SUPPORTED_SUFFIXES  # what a chat turn's own files may be too
CHAIN_FILE_MAX_BYTES = 512 * 1024  # per file, and never more than the job's own file limit
CHAIN_FILE_MAX_CHARS = 20_000  # per file; the prompt budget then keeps the newest turns
_MENTION = re.compile(r"<@!?(\d+)>")


def author_name(message: dict[str, Any]) -> str:
    author = message.get("author") or {}
    return str(author.get("global_name") or author.get("username") or "someone")


class ChainReader:
    def __init__(self, *, rest: DiscordRest) -> None:
        self._rest = rest
        self._bot_id: str | None = None

    def transcript(self, *, channel_id: int, message_id: int, max_file_bytes: int) -> Transcript | None:
        """The chain ending at ``message_id`` (that message excluded from the posts: it is
        the job's text); None when the message itself is gone."""
        own = self._get(channel_id, str(message_id))
        if own is None:
            return None
        bot_id = self._me()
        posts: list[ThreadPost] = []
        seen = {str(message_id)}
        ref = _reference(own)
        while ref and ref not in seen and len(posts) < CHAIN_MAX_MESSAGES:
            seen.add(ref)
            found = self._get(channel_id, ref)
            if found is None:
                break
            post = self._post(found, bot_id=bot_id, max_file_bytes=max_file_bytes)
            if post is not None:
                posts.append(post)
            ref = _reference(found)
        posts.reverse()
        return Transcript(posts=tuple(posts), author=author_name(own))

    def _get(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        try:
            found = self._rest.request("GET", f"/channels/{channel_id}/messages/{message_id}")
        except (DiscordBadRequest, DiscordForbidden) as err:  # deleted, or no longer visible
            log.info("reply chain ends at %s: %s", message_id, err)
            return None
        return found if isinstance(found, dict) else None

    def _me(self) -> str:
        if self._bot_id is None:
            self._bot_id = str((self._rest.request("GET", "/users/@me") or {}).get("id") or "")
        return self._bot_id

    def _post(self, message: dict[str, Any], *, bot_id: str, max_file_bytes: int) -> ThreadPost | None:
        names = {str(u.get("id")): author_name({"author": u}) for u in message.get("mentions") or []}
        text = _MENTION.sub(
            lambda m: "" if m.group(1) == bot_id else f"@{names.get(m.group(1), 'someone')}",
            str(message.get("content") or ""),
        ).strip()
        files = [self._file(a, max_file_bytes=max_file_bytes) for a in message.get("attachments") or []]
        text = "\n\n".join(part for part in (text, *files) if part)
        if not text:
            return None
        if str((message.get("author") or {}).get("id")) == bot_id:
            return ThreadPost(author="", text=text, by_bot=True)
        return ThreadPost(author=author_name(message), text=text)

    def _file(self, attachment: dict[str, Any], *, max_file_bytes: int) -> str:
        """``[name]`` and the file's text (its beginning, marked, past the cap), or nothing for
        a file we don't read; a file too large or unreadable is named as such, so the model
        knows it was there."""
        name = str(attachment.get("filename") or "file")
        if suffix_of(name) not in CHAIN_FILE_SUFFIXES or not attachment.get("url"):
            return ""
        limit = min(max_file_bytes, CHAIN_FILE_MAX_BYTES)
        try:
            data = self._rest.download(str(attachment["url"]), max_bytes=limit)
            if data is None:
                return f"[{name}: too large to read here]"
            text, cut = extract_beginning(name, data, max_bytes=limit, max_chars=CHAIN_FILE_MAX_CHARS)
        except InputError as err:
            return f"[{name}: not read ({err.key})]"
        except (DiscordBadRequest, DiscordForbidden):
            return f"[{name}: no longer available]"
        return f"[{name}]\n{text.strip()}" + (f"\n[{name}: only its beginning is shown]" if cut else "")


def _reference(message: dict[str, Any]) -> str | None:
    reference = message.get("message_reference") or {}
    found = reference.get("message_id")
    return str(found) if found else None
