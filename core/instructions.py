"""What each job asks the model. Prompts stay in English: small and mid-size models follow
English instructions best, and each prompt says which language to answer in."""

from __future__ import annotations

import re

from core.ports import ChatTurn

_CODE_LANGUAGES = (
    "python", "javascript", "typescript", "java", "go", "rust", "ruby", "php", "bash", "sql", "c++", "c#",
)

CHAT_SYSTEM = (
    "You are Tertulia, a helpful assistant in a team chat. Answer clearly and concisely. "
    "Use Markdown for lists and code."
)


def essay(title: str) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(role="system", content="You are an academic writer."),
        ChatTurn(
            role="user",
            content=(
                f'Write a short academic-style essay titled "{title}". Use exactly five paragraphs: '
                "an introduction with a thesis, three body paragraphs each developing one argument "
                "with evidence, and a conclusion. Start with the title on its own line."
            ),
        ),
    )


def translate(language: str, text: str) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(role="system", content="You are a professional translator."),
        ChatTurn(
            role="user",
            content=(
                f"Detect the language of the following text and translate it into {language}. "
                f"Reply with the {language} translation only.\n\n{text}"
            ),
        ),
    )


def summarize(text: str, *, partial: bool = False) -> tuple[ChatTurn, ...]:
    what = "this part of a longer document" if partial else "the following text"
    return (
        ChatTurn(role="system", content="You write faithful, concise summaries."),
        ChatTurn(role="user", content=f"Summarize {what} in a few sentences, keeping names and numbers.\n\n{text}"),
    )


def combine_summaries(summaries: list[str]) -> tuple[ChatTurn, ...]:
    joined = "\n\n".join(f"Part {i}: {s.strip()}" for i, s in enumerate(summaries, 1))
    return (
        ChatTurn(role="system", content="You write faithful, concise summaries."),
        ChatTurn(
            role="user",
            content=f"These are summaries of consecutive parts of one document. Combine them into one "
            f"coherent summary of the whole document.\n\n{joined}",
        ),
    )


def entities(text: str) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(
            role="system",
            content="You extract named entities and answer with JSON only.",
        ),
        ChatTurn(
            role="user",
            content=(
                "List the named entities in the text below as JSON: "
                '{"entities": [{"text": "...", "type": "person|organization|location|event|topic|other"}]}.'
                f"\n\nText: {text}"
            ),
        ),
    )


def code(prompt: str) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(
            role="system",
            content=(
                "You are an expert programmer. Answer with working code in one fenced Markdown code "
                "block whose opening fence names the language (for example ```python), followed by at "
                "most two sentences of explanation."
            ),
        ),
        ChatTurn(role="user", content=prompt),
    )


def ensure_code_block(answer: str, prompt: str) -> str:
    """The /code contract is a fenced block naming its language; small models forget."""
    if re.search(r"^```\S+", answer, re.M):
        return answer
    language = next((lang for lang in _CODE_LANGUAGES if re.search(rf"\b{re.escape(lang)}\b", prompt, re.I)), "text")
    if "```" in answer:  # a fence without a language: name it
        return re.sub(r"^```\s*$", f"```{language}", answer, count=1, flags=re.M)
    return f"```{language}\n{answer.strip()}\n```"


ASK_SYSTEM = (
    "You are Tertulia, a helpful assistant in a team chat. Answer the user's question clearly and "
    "concisely, using the conversation so far when it helps. If you don't know, say so."
)
_ASK_DOCUMENT_SYSTEM = (
    "You answer questions from the documents you are given. Use only what they say, and say "
    "where you found it."
)


def answer_question(question: str, document: str) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(role="system", content=_ASK_DOCUMENT_SYSTEM),
        ChatTurn(
            role="user",
            content=(
                "Answer the question from the document below. Cite where you found the answer: the file "
                "name in [brackets], or the author of the message. If the document does not answer it, "
                f"say so.\n\nQuestion: {question}\n\nDocument:\n{document}"
            ),
        ),
    )


def question_notes(question: str, part: str, number: int) -> tuple[ChatTurn, ...]:
    return (
        ChatTurn(role="system", content=_ASK_DOCUMENT_SYSTEM),
        ChatTurn(
            role="user",
            content=(
                f"This is part {number} of a longer document. Copy the sentences from it that help answer "
                f"the question, each starting with (part {number}). If nothing in it helps, answer "
                f"'nothing'.\n\nQuestion: {question}\n\nPart {number}:\n{part}"
            ),
        ),
    )


def answer_from_notes(question: str, notes: list[str]) -> tuple[ChatTurn, ...]:
    joined = "\n\n".join(note.strip() for note in notes)
    return (
        ChatTurn(role="system", content=_ASK_DOCUMENT_SYSTEM),
        ChatTurn(
            role="user",
            content=(
                "These notes were taken from the parts of one document. Answer the question from them, "
                "citing the parts you used as (part N). If they do not answer it, say so."
                f"\n\nQuestion: {question}\n\nNotes:\n{joined}"
            ),
        ),
    )


# For chat APIs that cannot continue an assistant message themselves (OpenAI, Gemini): the
# cut answer is sent as the assistant's turn, then this (worker/llm/openai_compat.py).
CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stopped, mid-word or mid-line "
    "if need be, without repeating anything and without any introduction."
)
