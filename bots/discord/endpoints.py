"""Pointing discord.py at another REST base and gateway (DISCORD_API_URL, DISCORD_GATEWAY_URL).

discord.py has no constructor option for either. Its REST root is the class attribute
``discord.http.Route.BASE`` (read when each Route is built; discord.py's own
``_set_api_version`` assigns it the same way) and a non-sharded Client connects to the
class attribute ``DiscordWebSocket.DEFAULT_GATEWAY`` (later to READY's
``resume_gateway_url``). Assigning those two attributes once, before the client starts,
is the least invasive way: no subclass of library internals, and every route, interaction
webhooks included, follows. The ``proxy=`` option of Client is a forward (CONNECT) proxy
and cannot express a REST proxy such as nirn-proxy or twilight-http-proxy.
"""

from __future__ import annotations

import logging

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route

log = logging.getLogger("tertulia.discord")

def configure_rest(api_url: str) -> None:
    Route.BASE = api_url.rstrip("/")


def configure_gateway(gateway_url: str) -> None:
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


async def discover_gateway(http: HTTPClient) -> str:
    """GET /gateway/bot through the configured REST base: a REST proxy or a test server
    names its own gateway, as Discord does."""
    _shards, url, _limits = await http.get_bot_gateway()
    return url

