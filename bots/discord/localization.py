"""English and Spanish names for the slash commands' descriptions and options.

Discord shows these in its command picker from the ``*_localizations`` fields that
discord.py fills through its Translator; the English text is the key. They are command
metadata for Discord's UI, not chat texts, so they live with the adapter.
"""

from __future__ import annotations

import discord
from discord import app_commands

SPANISH_LOCALES = (discord.Locale.spain_spanish, discord.Locale.latin_american_spanish)

# English (the source, and the key) -> Spanish. Discord allows 1-100 characters.
ES: dict[str, str] = {
    "Write a short five-paragraph academic essay": "Escribe un ensayo académico breve de cinco párrafos",
    "The essay's title": "El título del ensayo",
    "Summarise a text, a file or the channel's recent messages": (
        "Resume un texto, un archivo o los mensajes recientes del canal"
    ),
    "The text to summarise": "El texto que resumir",
    "A .txt, .md, .pdf or .docx file to summarise": "Un archivo .txt, .md, .pdf o .docx que resumir",
    "How many recent messages of this channel to summarise": "Cuántos mensajes recientes del canal resumir",
    "Translate a text (the source language is detected)": "Traduce un texto (el idioma de origen se detecta)",
    "The target language": "El idioma de destino",
    "The text to translate": "El texto que traducir",
    "Talk with the bot; it remembers this conversation": "Habla con el bot; recuerda esta conversación",
    "Your message": "Tu mensaje",
    "Find the people, places, organisations and events in a text": (
        "Encuentra las personas, lugares, organizaciones y eventos de un texto"
    ),
    "The text to analyse": "El texto que analizar",
    "Answer a programming request in a code block": "Responde a una petición de programación con un bloque de código",
    "What the code should do": "Qué debe hacer el código",
    "Choose the model for this conversation": "Elige el modelo de esta conversación",
    "The model's name": "El nombre del modelo",
    "List the models and which one this conversation uses": "Lista los modelos y cuál usa esta conversación",
    "Forget this conversation": "Olvida esta conversación",
    "What the bot can do": "Lo que puede hacer el bot",
}


def spanish(text: str) -> str | None:
    return ES.get(text)


class CommandTranslator(app_commands.Translator):
    """Fills description_localizations for es-ES and es-419; other locales fall back to
    English, as Discord does for a missing localisation."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale in SPANISH_LOCALES:
            return spanish(string.message)
        return None
