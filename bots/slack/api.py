"""The Slack Web API client, and Slack's errors translated into the core's error tree.

Every Web API call from the worker goes through ``call`` so that a 429 always becomes
``RetryAfter`` (the shared throttle then waits for everyone) and "the bot cannot post
there" always becomes ``Forbidden``.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from bots.slack.config import SlackConfig
from core.errors import BadRequest, Forbidden, RetryAfter, TransientDeliveryError

DEFAULT_RETRY_AFTER = 1.0  # seconds, when a 429 names no Retry-After
API_TIMEOUT = 15  # seconds per Web API call

# Errors after which the same call to the same place can never succeed.
FORBIDDEN_ERRORS = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "ekm_access_denied",
        "team_access_not_granted",
        "user_not_in_channel",
    }
)
# Errors that mean "the bot is not a member here": a slash command then answers by response_url.
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def make_client(config: SlackConfig) -> WebClient:
    token = config.bot_token.get_secret_value() if config.bot_token else None
    # No RateLimitErrorRetryHandler on purpose: a 429 must reach the shared throttle.
    return WebClient(token=token, base_url=config.api_url, timeout=API_TIMEOUT)


def slack_error_code(err: BaseException) -> str | None:
    if isinstance(err, SlackApiError):
        data = err.response.data if isinstance(err.response.data, dict) else {}
        return str(data.get("error") or "") or None
    return None


def translate(err: SlackApiError) -> Exception:
    status = err.response.status_code
    code = slack_error_code(err) or f"http_{status}"
    if status == 429 or code == "ratelimited":
        raw = err.response.headers.get("Retry-After") or err.response.headers.get("retry-after")
        try:
            seconds = float(raw) if raw is not None else DEFAULT_RETRY_AFTER
        except ValueError:
            seconds = DEFAULT_RETRY_AFTER
        return RetryAfter(seconds, f"slack {code}")
    if status >= 500 or code in TRANSIENT_ERRORS:
        return TransientDeliveryError(f"slack {code}")
    if code in FORBIDDEN_ERRORS:
        return Forbidden(f"slack {code}")
    return BadRequest(f"slack {code}")


def call(method: Callable[..., SlackResponse], **kwargs: Any) -> SlackResponse:
    """Run one Web API method, raising only core errors."""
    try:
        return method(**kwargs)
    except SlackApiError as err:
        raise translate(err) from err
    except (urllib.error.URLError, ConnectionError, TimeoutError, SlackRequestError) as err:
        raise TransientDeliveryError(f"slack unreachable: {type(err).__name__}") from err


def error_code_of(err: BaseException) -> str | None:
    """The Slack error code behind a translated core error, if any."""
    cause = err.__cause__
    return slack_error_code(cause) if cause is not None else None
