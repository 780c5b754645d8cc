"""The keys of ``InboundMessage.reply`` for Discord: what the adapter records so that a
worker can answer later with plain HTTP (shared by app.py and delivery.py)."""

from __future__ import annotations

MODE = "mode"
MODE_INTERACTION = "interaction"  # answer by editing the interaction's original response
MODE_CHANNEL = "channel"  # answer with channel messages replying to the user's message

APPLICATION_ID = "application_id"
INTERACTION_ID = "interaction_id"
INTERACTION_TOKEN = "interaction_token"
CREATED_AT = "created_at"  # epoch seconds the interaction was created (token life starts)
RESPONSE_MESSAGE_ID = "response_message_id"  # the deferred "thinking" message, when known
CHANNEL_ID = "channel_id"
MESSAGE_ID = "message_id"  # the user's message a channel answer replies to
REFERENCED_MESSAGE_ID = "referenced_message_id"  # what the user's message replied to
