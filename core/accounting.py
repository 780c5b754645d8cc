"""What a job costs, recorded when it ends: requests, the server's token counts, wall time,
per user, place and model (core/policy.py names them); and the concurrent slot the router's
admission took, freed. Also the persona a job's conversation speaks with."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from core.jobs import Job
from core.policy import persona_of, place_of, user_of
from core.policy_ports import Admission, PersonaStore, UsageEntry, UsageLedger
from core.ports import JobObserver

log = logging.getLogger("tertulia.accounting")


class Meter:
    """A JobObserver for one job attempt: forwards everything and sums the tokens per model."""

    def __init__(self, inner: JobObserver) -> None:
        self._inner = inner
        self.tokens_by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.started = time.monotonic()

    def job_started(self, *, kind: str, platform: str) -> None:
        self._inner.job_started(kind=kind, platform=platform)

    def first_token(self, *, kind: str, model: str, seconds: float) -> None:
        self._inner.first_token(kind=kind, model=model, seconds=seconds)

    def tokens(self, *, kind: str, model: str, prompt_tokens: int, generated_tokens: int) -> None:
        counts = self.tokens_by_model[model]
        counts[0] += prompt_tokens
        counts[1] += generated_tokens
        self._inner.tokens(kind=kind, model=model, prompt_tokens=prompt_tokens, generated_tokens=generated_tokens)

    def job_finished(self, *, kind: str, platform: str, outcome: str) -> None:
        self._inner.job_finished(kind=kind, platform=platform, outcome=outcome)

    def model_error(self, *, model: str, error_type: str) -> None:
        self._inner.model_error(model=model, error_type=error_type)

    def rate_limited(self, *, platform: str, seconds: float) -> None:
        self._inner.rate_limited(platform=platform, seconds=seconds)

    def delivered(self, *, platform: str, seconds: float) -> None:
        self._inner.delivered(platform=platform, seconds=seconds)


class Accounting:
    def __init__(self, *, usage: UsageLedger, admission: Admission, personas: PersonaStore) -> None:
        self._usage = usage
        self._admission = admission
        self._personas = personas

    def persona(self, job: Job) -> str | None:
        return self._personas.get(persona_of(job.message))

    def settle(self, job: Job, meter: Meter | None, *, model_of: Callable[[Job], str], final: bool) -> None:
        """Records one attempt's tokens (an attempt that is retried still spent them) and,
        when the job is over, its request and its freed slot. Never raises: accounting
        must not cost the user the answer."""
        try:
            model = model_of(job)  # the model the request is booked to (its tokens say which were used)
            spent = dict(meter.tokens_by_model) if meter is not None else {}
            if final and model not in spent:
                spent[model] = [0, 0]
            wall = time.monotonic() - meter.started if meter is not None else 0.0
            for name, (prompt, generated) in spent.items():
                self._usage.record(
                    UsageEntry(
                        user=user_of(job.message),
                        place=place_of(job.message),
                        model=name,
                        requests=1 if final and name == model else 0,
                        input_tokens=prompt,
                        output_tokens=generated,
                        wall_seconds=wall if name == model else 0.0,
                        at=time.time(),
                    )
                )
            if final:
                self._admission.release(user_of(job.message), job.id)
        except Exception:
            log.exception("usage not recorded", extra={"job_id": job.id})
