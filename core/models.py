"""The model registry: named model endpoints, read from a TOML file in the repo.

String values may use ``${VAR}`` or ``${VAR:-default}`` so that the environment can
override any field without editing the file (URLs, served ids, the default model).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.prompts import prompt_format, stop_sequences

# Hosts of the well-known hosted model APIs; any other endpoint can say `hosted = true`.
_HOSTED_APIS = ("openai.com", "googleapis.com", "anthropic.com", "azure.com", "mistral.ai", "groq.com")

_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


class Flavour(StrEnum):
    TGI = "tgi"  # TGI native: /generate_stream, /info, /tokenize, grammar
    OPENAI = "openai"  # OpenAI-compatible /v1/chat/completions


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    flavour: Flavour
    url: str
    model_id: str = "tgi"
    api_key_env: str | None = None  # the NAME of the variable holding the key, never the key
    prompt_format: str = "chatml"  # for servers without a chat template (TGI native)
    max_input_tokens: int | None = None  # used when the server has no /info
    max_total_tokens: int | None = None
    max_new_tokens: int = 512
    temperature: float | None = 0.7
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    description: str = ""
    # A hosted API (OpenAI, Gemini...): messages leave the deployment. None: judged by the URL.
    hosted: bool | None = None
    # Accepts images (OpenAI-compatible image_url parts); only a chat API ("openai") sends them.
    vision: bool = False
    image_tokens: int = 1024  # what one image costs of the prompt budget, for trimming history
    # Per command (essay, translate, code...): its answers' token limit on this model; a
    # command not named here gets max_new_tokens. Validated at load (_per_command).
    max_new_tokens_per_command: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vision and self.flavour is not Flavour.OPENAI:
            raise ValueError(f"model {self.name!r}: vision needs a chat API (flavour \"openai\")")
        if not self.stop and self.flavour is Flavour.TGI:
            # A raw prompt needs its family's turn markers as stops; a chat API applies its own.
            object.__setattr__(self, "stop", stop_sequences(self.prompt_format))

    @property
    def is_hosted(self) -> bool:
        if self.hosted is not None:
            return self.hosted
        host = re.sub(r"^\w+://", "", self.url).split("/")[0].split(":")[0].lower()
        return any(host == h or host.endswith("." + h) for h in _HOSTED_APIS)

    def max_new_tokens_for(self, command: str) -> int | None:
        """This preset's token limit for ``command``'s answers, if it sets one."""
        return self.max_new_tokens_per_command.get(command)

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True, kw_only=True)
class Registry:
    models: dict[str, ModelSpec]
    default: str
    jobs: dict[str, str]  # job kind -> model name

    def names(self) -> list[str]:
        return list(self.models)

    def default_for(self, kind: str) -> str:
        name = self.jobs.get(kind) or self.default
        return name if name in self.models else self.default

    def get(self, name: str) -> ModelSpec:
        return self.models[name]

    def is_hosted(self, name: str) -> bool:
        spec = self.models.get(name)
        return spec is not None and spec.is_hosted

    def vision_models(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self.models.items() if spec.vision)


def expand(value: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env

    def substitute(match: re.Match[str]) -> str:
        found = env.get(match.group("name"))
        return found if found else (match.group("default") or "")

    return _VAR.sub(substitute, value)


def _expand_all(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return expand(value, env)
    if isinstance(value, list):
        return [_expand_all(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand_all(v, env) for k, v in value.items()}
    return value


_INT_FIELDS = ("max_input_tokens", "max_total_tokens", "max_new_tokens", "image_tokens")
_BOOL_FIELDS = ("hosted", "vision")
_FLOAT_FIELDS = ("temperature", "top_p")


def _spec(name: str, raw: dict[str, Any]) -> ModelSpec:
    fields = {k: v for k, v in raw.items() if k in ModelSpec.__dataclass_fields__}
    for key in _INT_FIELDS:
        if key in fields:
            fields[key] = int(fields[key]) if str(fields[key]).strip() else None
    for key in _FLOAT_FIELDS:
        if key in fields:
            fields[key] = float(fields[key]) if str(fields[key]).strip() else None
    fields["flavour"] = Flavour(fields["flavour"])
    if not fields.get("api_key_env"):
        fields.pop("api_key_env", None)
    if "prompt_format" in fields:
        prompt_format(fields["prompt_format"])  # fail at load time on an unknown name, not mid-job
    for key in _BOOL_FIELDS:  # TOML's own booleans, or "true"/"false" from an expanded ${VAR}
        if key in fields and not isinstance(fields[key], bool):
            fields[key] = str(fields[key]).strip().lower() == "true"
    if "stop" in fields:
        fields["stop"] = tuple(fields["stop"])
    if "max_new_tokens_per_command" in fields:
        fields["max_new_tokens_per_command"] = _per_command(
            name, fields["max_new_tokens_per_command"], max_total=fields.get("max_total_tokens")
        )
    fields["extra"] = {k: v for k, v in raw.items() if k not in ModelSpec.__dataclass_fields__}
    return ModelSpec(name=name, **fields)


def _per_command(model: str, raw: Any, *, max_total: int | None) -> dict[str, int]:
    """``[models.<name>.max_new_tokens_per_command]``: every key a command that asks a
    model (core/table.py), every value a whole number of tokens that leaves the prompt room
    within max_total_tokens. A typo fails the load, not a job."""
    from core.table import model_commands  # the table does not import the registry

    where = f"model {model!r}: max_new_tokens_per_command"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table of command = tokens")
    known = model_commands()
    out: dict[str, int] = {}
    for command, value in raw.items():
        if command not in known:
            raise ValueError(f"{where}: {command!r} is not a command that asks a model ({', '.join(sorted(known))})")
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
            raise ValueError(f"{where}: {command} = {value!r} is not a positive whole number of tokens")
        tokens = int(text)
        if max_total is not None and tokens >= max_total:
            raise ValueError(f"{where}: {command} = {tokens} leaves no room for a prompt in {max_total} total tokens")
        out[command] = tokens
    return out


def load_registry(path: Path, *, env: dict[str, str] | None = None, default_override: str | None = None) -> Registry:
    env = dict(os.environ) if env is None else env
    data = _expand_all(tomllib.loads(path.read_text()), env)
    models = {name: _spec(name, raw) for name, raw in data.get("models", {}).items()}
    default = default_override or data.get("default") or next(iter(models))
    if default not in models:
        raise ValueError(f"default model {default!r} is not in {path}")
    jobs = {k: v for k, v in data.get("jobs", {}).items() if v}
    return Registry(models=models, default=default, jobs=jobs)
