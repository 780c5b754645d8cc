"""The README's settings table lists every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.append(alias.choices[0] if alias is not None else f"TERTULIA_{name.upper()}")  # type: ignore[union-attr]
    return names


def test_every_setting_is_in_the_readme_table() -> None:
    table = README.read_text().split("<!-- settings-table", 1)[1]
    missing = [name for name in env_names() if f"| `{name}` |" not in table]
    assert missing == []
