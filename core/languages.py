"""Target languages for /translate, by English or Spanish name or ISO 639-1 code."""

from __future__ import annotations

# ISO code -> (English name, other accepted names)
_LANGUAGES: dict[str, tuple[str, ...]] = {
    "ar": ("Arabic", "árabe", "arabe"),
    "bg": ("Bulgarian", "búlgaro"),
    "ca": ("Catalan", "catalán", "catala", "català"),
    "cs": ("Czech", "checo"),
    "da": ("Danish", "danés"),
    "de": ("German", "alemán", "aleman", "deutsch"),
    "el": ("Greek", "griego"),
    "en": ("English", "inglés", "ingles"),
    "es": ("Spanish", "español", "espanol", "castellano"),
    "et": ("Estonian", "estonio"),
    "eu": ("Basque", "euskera", "vasco"),
    "fa": ("Persian", "persa", "farsi"),
    "fi": ("Finnish", "finés", "finlandés"),
    "fr": ("French", "francés", "frances", "français"),
    "ga": ("Irish", "irlandés"),
    "gl": ("Galician", "gallego"),
    "he": ("Hebrew", "hebreo"),
    "hi": ("Hindi",),
    "hr": ("Croatian", "croata"),
    "hu": ("Hungarian", "húngaro"),
    "id": ("Indonesian", "indonesio"),
    "it": ("Italian", "italiano"),
    "ja": ("Japanese", "japonés", "japones"),
    "ko": ("Korean", "coreano"),
    "lt": ("Lithuanian", "lituano"),
    "lv": ("Latvian", "letón"),
    "nl": ("Dutch", "neerlandés", "holandés"),
    "no": ("Norwegian", "noruego"),
    "pl": ("Polish", "polaco"),
    "pt": ("Portuguese", "portugués", "portugues"),
    "ro": ("Romanian", "rumano"),
    "ru": ("Russian", "ruso"),
    "sk": ("Slovak", "eslovaco"),
    "sl": ("Slovenian", "esloveno"),
    "sr": ("Serbian", "serbio"),
    "sv": ("Swedish", "sueco"),
    "sw": ("Swahili", "suajili"),
    "th": ("Thai", "tailandés"),
    "tr": ("Turkish", "turco"),
    "uk": ("Ukrainian", "ucraniano"),
    "vi": ("Vietnamese", "vietnamita"),
    "zh": ("Chinese", "chino", "mandarin"),
}

_BY_NAME: dict[str, str] = {}
for _code, _names in _LANGUAGES.items():
    _BY_NAME[_code] = _code
    for _name in _names:
        _BY_NAME[_name.lower()] = _code


def resolve_language(word: str) -> str | None:
    """'de', 'DE', 'German', 'alemán', 'pt-BR' -> 'German'; unknown -> None."""
    key = word.strip().lower()
    code = _BY_NAME.get(key) or _BY_NAME.get(key.replace("_", "-").split("-")[0])
    return _LANGUAGES[code][0] if code else None


def language_names() -> list[tuple[str, tuple[str, ...]]]:
    """(code, every accepted name, English first), for adapters that autocomplete."""
    return [(code, names) for code, names in sorted(_LANGUAGES.items(), key=lambda kv: kv[1][0])]
