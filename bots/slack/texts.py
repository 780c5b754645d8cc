"""Texts only Slack shows: the suggested prompts of a new assistant thread (en, es)."""

from __future__ import annotations

from core.catalogue import language_of

# (title, message) pairs, by language; the messages are commands the user can send as they are.
SUGGESTED_PROMPTS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("Write a short essay", "/essay The history of the printing press"),
        ("Translate a sentence", "/translate es Good morning, how are you?"),
        ("Write some code", "/code A Python function that checks whether a word is a palindrome"),
    ),
    "es": (
        ("Escribe un ensayo breve", "/essay La historia de la imprenta"),
        ("Traduce una frase", "/translate en Buenos días, ¿cómo estás?"),
        ("Escribe código", "/code Una función en Python que compruebe si una palabra es un palíndromo"),
    ),
}


def suggested_prompts(locale: str | None) -> list[dict[str, str]]:
    pairs = SUGGESTED_PROMPTS.get(language_of(locale)) or SUGGESTED_PROMPTS["en"]
    return [{"title": title, "message": message} for title, message in pairs]
