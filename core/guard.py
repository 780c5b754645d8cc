"""The policy at the router's door: allowlists, admins, models and limits, checked before
anything is enqueued; and what /usage and /persona read and write.

A refusal is one short localised reply, or none where a reply would be spam (a group the
bot was added to by someone else). An outsider's DM is answered once a day, then dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from core import catalogue
from core.control_ports import ControlStore
from core.messages import InboundMessage
from core.policy import Policy, persona_of, place_of, user_of
from core.policy_ports import Admission, PersonaStore, Ticket, UsageLedger, UsageTotals
from core.ports import Deduplicator

# A persona is a system text, not a document: kept short so that it always leaves the
# conversation room in the prompt budget.
MAX_PERSONA_CHARS = 1500
_TOP_USERS = 5


class ModelFacts(Protocol):
    def names(self) -> list[str]: ...

    def default_for(self, kind: str) -> str: ...

    def is_hosted(self, name: str) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reply: str | None  # None: dropped without a word


class Gate:
    def __init__(
        self,
        *,
        policy: Callable[[], Policy],
        admission: Admission,
        usage: UsageLedger,
        personas: PersonaStore,
        once: Deduplicator,
        models: ModelFacts,
        clock: Callable[[], float] = time.time,
        controls: ControlStore | None = None,
    ) -> None:
        self._policy = policy
        self._admission = admission
        self._usage = usage
        self._personas = personas
        self._once = once
        self._models = models
        self._clock = clock
        self._controls = controls  # the votes on answers, shown to admins in /usage

    # --- the checks --------------------------------------------------------------------

    def outsider(self, message: InboundMessage) -> Refusal | None:
        if self._policy().admits(message):
            return None
        if message.is_dm and self._once.first_time("policy-outsider", user_of(message)):
            return Refusal(reply=catalogue.text("policy_outsider", message.locale))
        return Refusal(reply=None)

    def is_admin(self, message: InboundMessage) -> bool:
        return self._policy().is_admin(message)

    def names_admin(self, message: InboundMessage) -> bool:
        """An admin the policy lists by name (a platform without a list has none here)."""
        admins = self._policy().rules(message.platform).admins
        return admins is not None and message.user in admins

    def admin_only(self, message: InboundMessage) -> Refusal:
        return Refusal(reply=catalogue.text("policy_admin_only", message.locale))

    def model_permitted(self, message: InboundMessage, name: str) -> bool:
        return self._policy().models_for(message).permits(name, hosted=self._models.is_hosted(name))

    def checks_models(self, message: InboundMessage) -> bool:
        """Whether the policy restricts the models where ``message`` was sent: if not, the
        router need not read the scope's model choice to admit a job (a round trip saved)."""
        rules = self._policy().models_for(message)
        return rules.allowed is not None or not rules.hosted

    def permitted_models(self, message: InboundMessage, names: list[str]) -> list[str]:
        return [n for n in names if self.model_permitted(message, n)]

    def admit(self, message: InboundMessage, *, job_id: str, kind: str, model: str | None) -> Refusal | None:
        """The model check and the limits, for a job about to be enqueued; admitted, it is
        counted (and its concurrent slot held until the worker releases it)."""
        # As the runner picks it: the scope's choice while the registry has it, else the default.
        chosen = model if model and model in self._models.names() else self._models.default_for(kind)
        if kind != "models" and not self.model_permitted(message, chosen):
            return Refusal(reply=catalogue.text("model_forbidden", message.locale, model=chosen))
        limits = self._policy().limits
        ticket = Ticket(
            user=user_of(message),
            place=place_of(message),
            job_id=job_id,
            per_minute=limits.requests_per_user_per_minute,
            user_tokens_per_day=limits.tokens_per_user_per_day,
            place_tokens_per_day=limits.tokens_per_scope_per_day,
            concurrent=limits.concurrent_jobs_per_user,
        )
        if all(v is None for v in (ticket.per_minute, ticket.user_tokens_per_day,
                                   ticket.place_tokens_per_day, ticket.concurrent)):  # fmt: skip
            return None
        verdict = self._admission.admit(ticket)
        if verdict.limit is None:
            return None
        figures = {
            "rate": ticket.per_minute,
            "user_tokens": ticket.user_tokens_per_day,
            "place_tokens": ticket.place_tokens_per_day,
            "concurrent": ticket.concurrent,
        }
        wait = wait_text(verdict.retry_after or 0.0, message.locale)
        return Refusal(
            reply=catalogue.text(f"limit_{verdict.limit}", message.locale, limit=figures[verdict.limit], wait=wait)
        )

    # --- personas ------------------------------------------------------------------------

    def persona(self, message: InboundMessage) -> str | None:
        return self._personas.get(persona_of(message))

    def set_persona(self, message: InboundMessage, text: str | None) -> None:
        if text is None:
            self._personas.clear(persona_of(message))
        else:
            self._personas.set(persona_of(message), text)

    # --- usage ---------------------------------------------------------------------------

    def usage_text(self, message: InboundMessage) -> str:
        locale, limits = message.locale, self._policy().limits
        report = self._usage.report(user=user_of(message), place=place_of(message), at=self._clock())
        lines = [
            catalogue.text("usage_today", locale, **_figures(report.user_today)),
            catalogue.text("usage_month", locale, **_figures(report.user_month)),
        ]
        if limits.tokens_per_user_per_day is not None:
            left = max(limits.tokens_per_user_per_day - report.user_today.tokens, 0)
            lines.append(catalogue.text("usage_left", locale, left=left, limit=limits.tokens_per_user_per_day))
        if limits.tokens_per_scope_per_day is not None:
            left = max(limits.tokens_per_scope_per_day - report.place_today.tokens, 0)
            lines.append(catalogue.text("usage_place_left", locale, left=left, limit=limits.tokens_per_scope_per_day))
        if self.is_admin(message):
            lines.append(catalogue.text("usage_place_today", locale, **_figures(report.place_today)))
            lines.append(catalogue.text("usage_place_month", locale, **_figures(report.place_month)))
            if report.top_users:
                shown = report.top_users[:_TOP_USERS]
                top = ", ".join(f"{user.rsplit(':', 1)[-1]} ({tokens})" for user, tokens in shown)
                lines.append(catalogue.text("usage_top", locale, users=top))
            votes = self._controls.feedback(place=place_of(message), at=self._clock()) if self._controls else {}
            if votes:
                shown_votes = ", ".join(f"{model} 👍 {v.up} 👎 {v.down}" for model, v in votes.items())
                lines.append(catalogue.text("usage_feedback", locale, models=shown_votes))
        return "\n".join(lines)


def _figures(totals: UsageTotals) -> dict[str, int]:
    return {"requests": totals.requests, "input": totals.input_tokens, "output": totals.output_tokens}


def wait_text(seconds: float, locale: str | None) -> str:
    """A short human wait: "42 s", "3 min", "5 h 10 min"; empty when unknown."""
    if seconds <= 0:
        return catalogue.text("wait_unknown", locale)
    whole = int(seconds + 0.999)
    if whole < 60:
        return f"{whole} s"
    minutes = (whole + 59) // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
