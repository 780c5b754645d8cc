"""Who may use the bot, where, how much, and with which models: the policy file, parsed and
applied. Pure: reading the file and counting in Redis happen behind ports (core/ports.py).

A missing list means "anyone"; a list means "only these" (an empty list: nobody). A
platform that names no admins treats everyone there as admin, as before there was a
policy; naming admins turns the restriction on (docs/policy.md).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from core.messages import InboundMessage

# The place lists each platform may declare, and what each one matches.
_PLACE_LISTS = {
    "slack": {"workspaces": "workspace", "channels": "channel"},
    "discord": {"guilds": "workspace", "channels": "channel"},
    "telegram": {"chats": "channel"},
    "console": {},
}
_WHO_LISTS = {"slack": ("users",), "discord": ("users", "roles"), "telegram": ("users",), "console": ("users",)}
_LIMIT_KEYS = (
    "requests_per_user_per_minute",
    "tokens_per_user_per_day",
    "tokens_per_scope_per_day",
    "concurrent_jobs_per_user",
)
_MODEL_KEYS = ("allowed", "hosted")


class PolicyError(ValueError):
    """A policy file that cannot be used: where and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class PlatformRules:
    enabled: bool = True
    lists: dict[str, frozenset[str]] = field(default_factory=dict)  # "users", "channels", ... -> ids
    admins: frozenset[str] | None = None  # None: everyone is admin here


@dataclass(frozen=True, kw_only=True)
class Limits:
    requests_per_user_per_minute: int | None = None
    tokens_per_user_per_day: int | None = None
    tokens_per_scope_per_day: int | None = None
    concurrent_jobs_per_user: int | None = None


@dataclass(frozen=True, kw_only=True)
class ModelRules:
    allowed: frozenset[str] | None = None  # None: every model in the registry
    hosted: bool = True  # False: no model whose messages leave the deployment

    def permits(self, name: str, *, hosted: bool) -> bool:
        if self.allowed is not None and name not in self.allowed:
            return False
        return self.hosted or not hosted


@dataclass(frozen=True, kw_only=True)
class Policy:
    platforms: dict[str, PlatformRules] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    models: ModelRules = field(default_factory=ModelRules)
    scopes: dict[str, ModelRules] = field(default_factory=dict)  # place or platform -> its models

    def rules(self, platform: str) -> PlatformRules:
        return self.platforms.get(platform, PlatformRules())

    def is_admin(self, message: InboundMessage) -> bool:
        admins = self.rules(message.platform).admins
        return admins is None or message.user in admins

    def admits(self, message: InboundMessage) -> bool:
        """Inside the allowlists. In a DM the channel lists do not apply (a DM channel is
        nobody's choice); where a platform's DMs belong to no listed place (a Discord DM has
        no guild, a Telegram DM is a chat of its own), a DM passes only a user named in
        ``users`` or an admin."""
        rules = self.rules(message.platform)
        if not rules.enabled:
            return False
        if rules.admins is not None and message.user in rules.admins:
            return True
        for name, attribute in _PLACE_LISTS.get(message.platform, {}).items():
            listed = rules.lists.get(name)
            if listed is None or (message.is_dm and attribute == "channel"):
                continue
            if message.is_dm and message.platform == "discord":
                continue  # no guild: judged by the user lists below
            if getattr(message, attribute) not in listed:
                return False
        users, roles = rules.lists.get("users"), rules.lists.get("roles")
        if message.is_dm and message.platform in ("discord", "telegram"):
            places = [rules.lists.get(n) for n in _PLACE_LISTS[message.platform]]
            if any(p is not None for p in places) and (users is None or message.user not in users):
                return False
        if users is None and roles is None:
            return True
        return bool((users and message.user in users) or (roles and roles.intersection(message.roles)))

    def models_for(self, message: InboundMessage) -> ModelRules:
        for key in (f"{place_of(message)}:{message.channel}", place_of(message), message.platform):
            if key in self.scopes:
                return self.scopes[key]
        return self.models


def place_of(message: InboundMessage) -> str:
    """The unit of a shared token budget: a Slack workspace, a Discord guild, a Telegram
    chat, the console."""
    if message.platform == "console":
        return "console"
    if message.platform == "telegram":
        return f"telegram:{message.channel}"
    return f"{message.platform}:{message.workspace}"


def user_of(message: InboundMessage) -> str:
    """A user's identity for limits and usage (ids are unique per platform workspace)."""
    return f"{message.platform}:{message.workspace}:{message.user}"


def persona_of(message: InboundMessage) -> str:
    """Where a persona applies: the channel (a DM: its user)."""
    if message.is_dm:
        return f"{message.platform}:{message.workspace}:dm:{message.user}"
    return f"{message.platform}:{message.workspace}:{message.channel}"


# --- parsing ---------------------------------------------------------------------------


def parse_policy(text: str, *, known_models: Collection[str] | None = None) -> Policy:
    """The policy in ``text``; ``PolicyError`` (line, reason) for anything it can't use."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"line (\d+)", str(err))
        line = int(found.group(1)) if found else max(len(text.splitlines()), 1)  # "at end of document"
        raise PolicyError(line, str(err).split(" (at")[0]) from None
    where = _Locator(text)
    platforms: dict[str, PlatformRules] = {}
    limits, models, scopes = Limits(), ModelRules(), {}
    for name, value in data.items():
        if not isinstance(value, dict):
            raise PolicyError(where.line(None, name), f"'{name}' must be a table ([{name}])")
        if name in _PLACE_LISTS:
            platforms[name] = _platform(name, value, where)
        elif name == "limits":
            limits = _limits(value, where)
        elif name == "models":
            models = _models("models", value, where, known_models)
        elif name == "scopes":
            for scope, rules in value.items():
                table = f"scopes.{scope}"
                if not isinstance(rules, dict):
                    raise PolicyError(where.line("scopes", scope), f"'{table}' must be a table")
                scopes[scope] = _models(table, rules, where, known_models)
        else:
            raise PolicyError(where.line(None, name), f"unknown section [{name}]")
    return Policy(platforms=platforms, limits=limits, models=models, scopes=scopes)


def _platform(name: str, raw: dict[str, Any], where: _Locator) -> PlatformRules:
    allowed_keys = {*_PLACE_LISTS[name], *_WHO_LISTS[name], "admins", "enabled"}
    lists: dict[str, frozenset[str]] = {}
    for key, value in raw.items():
        if key not in allowed_keys:
            raise PolicyError(where.line(name, key), f"unknown key '{key}' in [{name}]; known: {sorted(allowed_keys)}")
        if key == "enabled":
            if not isinstance(value, bool):
                raise PolicyError(where.line(name, key), "'enabled' must be true or false")
            continue
        lists[key] = _ids(value, name, key, where)
    admins = lists.pop("admins", None)
    return PlatformRules(enabled=bool(raw.get("enabled", True)), lists=lists, admins=admins)


def _ids(value: Any, table: str, key: str, where: _Locator) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise PolicyError(where.line(table, key), f"'{key}' must be a list of ids (strings or numbers)")
    return frozenset(str(v) for v in value)


def _limits(raw: dict[str, Any], where: _Locator) -> Limits:
    values: dict[str, int] = {}
    for key, value in raw.items():
        if key not in _LIMIT_KEYS:
            raise PolicyError(where.line("limits", key), f"unknown limit '{key}'; known: {list(_LIMIT_KEYS)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PolicyError(where.line("limits", key), f"'{key}' must be a whole number of at least 1")
        values[key] = value
    return Limits(**values)


def _models(table: str, raw: dict[str, Any], where: _Locator, known: Collection[str] | None) -> ModelRules:
    for key in raw:
        if key not in _MODEL_KEYS:
            raise PolicyError(where.line(table, key), f"unknown key '{key}' in [{table}]; known: {list(_MODEL_KEYS)}")
    allowed = _ids(raw["allowed"], table, "allowed", where) if "allowed" in raw else None
    if allowed is not None and known is not None:
        unknown = sorted(allowed - set(known))
        if unknown:
            raise PolicyError(where.line(table, "allowed"), f"unknown model(s) {unknown}; models: {sorted(known)}")
    hosted = raw.get("hosted", True)
    if not isinstance(hosted, bool):
        raise PolicyError(where.line(table, "hosted"), "'hosted' must be true or false")
    return ModelRules(allowed=allowed, hosted=hosted)


class _Locator:
    """The line where a table or a key is written, for error messages (tomllib keeps none)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    _KEY = re.compile(r"""^\s*["']?([A-Za-z0-9_:.\-]+)["']?\s*=""")

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def line(self, table: str | None, key: str) -> int:
        current: str | None = None
        for number, line in enumerate(self._lines, start=1):
            header = self._HEADER.match(line)
            if header:
                current = header.group(1).replace('"', "").replace("'", "").replace(" ", "")
                if (table is None and current == key) or current == f"{table}.{key}":
                    return number
                continue
            found = self._KEY.match(line)
            if found and found.group(1) == key and current == table:
                return number
        return 1
