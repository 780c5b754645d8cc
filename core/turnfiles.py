"""Files that join one chat turn: their text after what the user wrote, cut to the prompt
budget, and the short line the conversation's memory keeps instead of their text.

The files get the room the user's turn leaves without any history (the turn matters more
than older turns, which ``core.conversation.fit_history`` then drops as needed); a file cut
to fit is named, so the answer can say so (catalogue ``file_cut``). docs/decisions.md,
"Files in a chat turn".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core import catalogue
from core.attachments import extract_beginning, image_type, is_image
from core.errors import InputError
from core.messages import Attachment
from core.model_ports import Image

Reader = Callable[..., bytes]  # (attachment, *, max_bytes) -> its bytes, capped

# How many times a cut is measured again, each 20% shorter, before the files are left out.
_SHRINK_ROUNDS = 8
_WORD_BREAK_WINDOW = 200  # a cut moves back to a line or word end within this many characters


@dataclass(frozen=True, kw_only=True)
class TurnFile:
    name: str
    text: str
    cut: bool = False  # shortened: at reading (the character cap) or to fit the prompt


def compose(text: str, files: Sequence[TurnFile]) -> str:
    """The turn as the model reads it: the user's words, then each file, named."""
    blocks = [text.strip()] if text.strip() else []
    for file in files:
        header = f'Attached file "{file.name}"' + (" (only its beginning fits here)" if file.cut else "") + ":"
        blocks.append(f"{header}\n{file.text}")
    return "\n\n".join(blocks)


def remembered(text: str, names: Sequence[str]) -> str:
    """What the conversation's memory keeps of the turn: the words, and which files came
    with them, never their text (a later turn would pay for it again, and the memory's
    size would follow the files')."""
    if not names:
        return text
    return f"{text}\n(attached: {', '.join(names)})".strip()


def fit_files(
    *, text: str, files: Sequence[TurnFile], budget: int, count: Callable[[str], int]
) -> tuple[str, list[str]]:
    """(the turn's content, the names of the files that were cut). ``count`` measures the
    whole prompt (system text and this turn, no history) for a given turn content; each
    call may be a tokenizer round trip, so a cut is estimated from the token rate, then
    checked, rather than searched character by character."""
    full = compose(text, files)
    measured = count(full)
    if measured <= budget:
        return full, [f.name for f in files if f.cut]
    bare = count(compose(text, [replace(f, text="", cut=True) for f in files]))
    if bare > budget:
        raise InputError("too_long", limit=budget, length=bare)
    total = sum(len(f.text) for f in files)
    keep = int(total * (budget - bare) / max(measured - bare, 1) * 0.95)
    for _ in range(_SHRINK_ROUNDS):
        kept = _keep(files, keep)
        content = compose(text, kept)
        if count(content) <= budget:
            return content, [f.name for f in kept if f.cut]
        keep = int(keep * 0.8)
    kept = [replace(f, text="", cut=True) for f in files]
    return compose(text, kept), [f.name for f in kept]


def _keep(files: Sequence[TurnFile], chars: int) -> list[TurnFile]:
    """The files in order, within ``chars`` characters of text in all."""
    kept: list[TurnFile] = []
    left = max(chars, 0)
    for file in files:
        if len(file.text) <= left:
            kept.append(file)
            left -= len(file.text)
            continue
        kept.append(replace(file, text=_cut(file.text, left), cut=True))
        left = 0
    return kept


def _cut(text: str, size: int) -> str:
    head = text[:size]
    if size >= len(text):
        return head
    at = max(head.rfind("\n", size - _WORD_BREAK_WINDOW), head.rfind(" ", size - _WORD_BREAK_WINDOW))
    return head[:at].rstrip() if at > 0 else head


def read_turn_files(
    attachments: Sequence[Attachment], *, read: Reader, max_bytes: int, max_chars: int
) -> list[TurnFile]:
    """The attached documents' text (images aside), each read no further than ``max_chars``:
    the prompt could hold no more."""
    files = []
    for attachment in attachments:
        if is_image(attachment):
            continue
        data = read(attachment, max_bytes=max_bytes)
        text, cut = extract_beginning(attachment.name, data, max_bytes=max_bytes, max_chars=max_chars)
        files.append(TurnFile(name=attachment.name, text=text, cut=cut))
    return files


def read_images(
    attachments: Sequence[Attachment],
    *,
    read: Reader,
    max_bytes: int,
    vision: bool,
    model: str,
    vision_models: Sequence[str],
    locale: str | None,
) -> tuple[Image, ...]:
    """The attached images for a model that sees them; for one that doesn't, the clear
    refusal (before any model call)."""
    attached = [a for a in attachments if is_image(a)]
    if not attached:
        return ()
    if not vision:
        models = ", ".join(f"`{name}`" for name in vision_models)
        raise InputError("image_needs_vision", model=model,
                         models=models or catalogue.text("no_vision_models", locale))  # fmt: skip
    images = []
    for attachment in attached:
        data = read(attachment, max_bytes=max_bytes)
        images.append(Image(mime_type=image_type(attachment.name, data, max_bytes=max_bytes), data=data))
    return tuple(images)
