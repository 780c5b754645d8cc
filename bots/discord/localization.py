"""Spanish for the slash commands' descriptions and options, from the core catalogue.

Discord shows these in its command picker from the ``*_localizations`` fields that
discord.py fills through its Translator. Every text is created by bots/discord/commands.py
as a ``locale_str`` carrying its catalogue key, so the menus and the chat texts share one
catalogue.
"""

from __future__ import annotations

import discord
from discord import app_commands

from core import catalogue

SPANISH_LOCALES = (discord.Locale.spain_spanish, discord.Locale.latin_american_spanish)


def spanish(key: str) -> str:
    return catalogue.text(key, "es")[:100]  # Discord allows 1-100 characters


class CommandTranslator(app_commands.Translator):
    """Fills description_localizations for es-ES and es-419; other locales fall back to
    English, as Discord does for a missing localisation."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = string.extras.get("key")
        if locale in SPANISH_LOCALES and key:
            return spanish(str(key))
        return None
