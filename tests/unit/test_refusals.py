"""A refused platform method falls back, and the process remembers it for a while."""

from __future__ import annotations

from typing import Any

import pytest

from bots.telegram.address import TelegramAddress
from bots.telegram.botapi import MethodNotFound, raise_for_description
from bots.telegram.delivery import TelegramResponder
from core.errors import BadRequest
from core.refusals import Refusals
from tests.support.memory import MemoryKV


def test_refusals_are_remembered_until_the_recheck() -> None:
    now = [0.0]
    refusals = Refusals(recheck_seconds=60, clock=lambda: now[0])
    assert refusals.allows("sendMessageDraft")
    refusals.refused("sendMessageDraft")
    assert not refusals.allows("sendMessageDraft") and refusals.allows("other")
    now[0] = 61.0
    assert refusals.allows("sendMessageDraft")


def test_an_old_bot_api_servers_404_is_method_not_found() -> None:
    with pytest.raises(MethodNotFound):
        raise_for_description(404, "sendMessageDraft: Not Found: method not found", None)


class OldServer:
    """The Bot API as a server without sendMessageDraft answers it (the client's boundary)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._ids = iter(range(100, 200))

    def call(self, method: str, **params: Any) -> Any:
        self.calls.append(method)
        if method == "sendMessageDraft":
            raise_for_description(404, f"{method}: Not Found: method not found", None)
        if method == "sendMessage":
            return {"message_id": next(self._ids)}
        return True


def test_a_refused_draft_falls_back_and_the_process_remembers() -> None:
    api, refusals = OldServer(), Refusals(recheck_seconds=600)
    address = TelegramAddress(chat_id=7, private=True)
    first = TelegramResponder(api=api, address=address, refusals=refusals, drafts=MemoryKV())  # type: ignore[arg-type]
    ref = first.post("Hello")
    first.update(ref, "Hello there")
    first.finish(ref, "Hello there, friend.")
    assert api.calls == ["sendMessageDraft", "sendMessage", "editMessageText", "editMessageText"]
    second = TelegramResponder(api=api, address=address, refusals=refusals, drafts=MemoryKV())  # type: ignore[arg-type]
    second.finish(second.post("Next answer"), "Next answer")
    assert api.calls[4:] == ["sendMessage"]  # not asked again: the process remembers


def test_another_refusal_of_a_draft_costs_only_that_answer() -> None:
    class Refusing(OldServer):
        def call(self, method: str, **params: Any) -> Any:
            if method == "sendMessageDraft":
                self.calls.append(method)
                raise BadRequest("sendMessageDraft: Bad Request: TEXTDRAFT_PEER_INVALID")
            return super().call(method, **params)

    api, refusals = Refusing(), Refusals(recheck_seconds=600)
    address = TelegramAddress(chat_id=7, private=True)
    responder = TelegramResponder(api=api, address=address, refusals=refusals, drafts=MemoryKV())  # type: ignore[arg-type]
    responder.finish(responder.post("Hi"), "Hi")
    assert api.calls == ["sendMessageDraft", "sendMessage"] and refusals.allows("sendMessageDraft")
