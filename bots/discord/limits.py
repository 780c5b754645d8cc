"""Discord's limits, as named constants, with where each comes from.

Discord asks apps not to hard-code per-route limits (they come back in X-RateLimit-*
headers and change); the edit intervals below are deliberately conservative budgets that
stay well inside the buckets Discord has served for years, and the shared throttle
(core.delivery.StreamingReply) enforces them across every worker through Redis.
"""

from __future__ import annotations

# Message content limit for bots (characters). Longer answers continue in more messages.
MESSAGE_MAX_CHARS = 2000

# An interaction must be acknowledged (we defer) within 3 seconds of its creation.
INTERACTION_ACK_SECONDS = 3.0
# The interaction token (webhook edits and follow-ups) is valid for 15 minutes.
INTERACTION_TOKEN_TTL = 15 * 60.0
# A job that starts with less token life than this answers in the channel from the start,
# so that a long generation is never cut off by the token dying mid-stream.
INTERACTION_JOB_HEADROOM = 3 * 60.0
# A single call this close to the token's expiry goes to the channel instead.
INTERACTION_CALL_MARGIN = 15.0

# Global limit: 50 requests per second per bot across REST (interaction webhooks are not
# bound to it). Per-destination intervals below keep a bot far under it unless it streams
# into dozens of channels at once.
GLOBAL_REQUESTS_PER_SECOND = 50

# Channel message create/edit: the per-channel message bucket has long been 5 requests per
# 5 seconds; one edit per second per channel stays inside it with room for posts.
CHANNEL_MESSAGE_EDIT_INTERVAL = 1.0
# Interaction webhook edits (PATCH /webhooks/{app}/{token}/messages/...): bucketed per
# webhook id + token, i.e. per interaction; same conservative one edit per second.
INTERACTION_EDIT_INTERVAL = 1.0

# Cloudflare bans an IP for a while after 10,000 invalid requests (401, 403, 429 not of
# scope "shared") in 10 minutes. We keep them rare: the throttle above prevents 429s,
# identical or empty edits are never sent, and a dead interaction token makes us switch
# to the channel instead of retrying the same failing call.
INVALID_REQUESTS_BAN_LIMIT = 10_000
INVALID_REQUESTS_WINDOW_SECONDS = 10 * 60

# GET /channels/{id}/messages returns at most 100 messages per call.
HISTORY_MAX_MESSAGES = 100
HISTORY_DEFAULT_MESSAGES = 50

# JSON error codes that mean "this interaction token no longer works".
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
INVALID_WEBHOOK_TOKEN = 50027
