"""The error tree. Each class says whether trying again can help, in the manner of
python-telegram-bot's RetryAfter / BadRequest / Forbidden, so callers branch on type
rather than on message text."""

from __future__ import annotations


class TertuliaError(Exception):
    """Base of every error the core raises or understands."""

    retryable: bool = False


# --- the model server ---------------------------------------------------------------


class ModelError(TertuliaError):
    """The model server could not give an answer."""


class ModelOverloaded(ModelError):
    """HTTP 429, or TGI's ``overloaded`` error inside a 200 stream."""

    retryable = True


class ModelUnavailable(ModelError):
    """503, connection refused, DNS failure: the server is down or starting."""

    retryable = True


class ModelStalled(ModelError):
    """No token arrived within the inter-token timeout."""

    retryable = True


class ModelRejected(ModelError):
    """422/400 and other answers that the same request will get again."""


# --- chat platforms -----------------------------------------------------------------


class DeliveryError(TertuliaError):
    """A platform refused or failed a delivery call."""


class RetryAfter(DeliveryError):
    """Rate limited: the platform named how long to wait."""

    retryable = True

    def __init__(self, seconds: float, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {seconds:.2f}s")
        self.seconds = seconds


class TransientDeliveryError(DeliveryError):
    """A 5xx or network fault on the platform's side."""

    retryable = True


class BadRequest(DeliveryError):
    """The platform rejected the call's content; the same call fails again."""


class Forbidden(DeliveryError):
    """The bot may not post there (not in channel, blocked, token revoked)."""


# --- user input ---------------------------------------------------------------------


class InputError(TertuliaError):
    """The user's input cannot be processed; ``key`` and ``params`` name a catalogue text."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
