"""Slack's published limits, as named constants (https://docs.slack.dev/apis/web-api/rate-limits).

Web API rate limits apply per app, per workspace, per method, so the shared throttle's
budget key for a job is its workspace, not its channel.
"""

from __future__ import annotations

CHAT_UPDATE_PER_MINUTE = 50  # chat.update is Tier 3: 50+ per minute
APPEND_STREAM_PER_MINUTE = 100  # chat.appendStream is Tier 4: 100+ per minute
POST_MESSAGE_PER_SECOND_PER_CHANNEL = 1  # chat.postMessage: about one per second per channel

UPDATE_INTERVAL = 60.0 / CHAT_UPDATE_PER_MINUTE  # seconds between chat.update calls
STREAM_INTERVAL = 60.0 / APPEND_STREAM_PER_MINUTE  # seconds between appendStream calls

# markdown_text (chat.postMessage / chat.update / the stream methods) takes at most 12,000
# characters per call. We split well below it: headroom for the mrkdwn conversion of the
# response_url path (links and escapes grow) and for a code fence closed and reopened.
MARKDOWN_TEXT_LIMIT = 12_000
MAX_CHARS = 11_000
TEXT_TRUNCATED_AT = 40_000  # Slack truncates a message's `text` beyond this

# A command's response_url accepts at most 5 posts within 30 minutes, so only final texts
# go there, never intermediate updates.
RESPONSE_URL_MAX_USES = 5
HEADER_COMMAND_CHARS = 80  # how much of a command's text the header message repeats
