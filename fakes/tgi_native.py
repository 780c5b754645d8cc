"""TGI's native generation routes for the fake server: ``/generate``, ``/generate_stream``
and ``/`` (``router/src/server.rs::generate_internal`` / ``generate_stream_internal``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fakes import tgi_content as content
from fakes.sse import Drop, drop, error_response, keepalive, open_sse, send

if TYPE_CHECKING:
    from fakes.tgi_server import FakeTGI, Plan

_EOS = {"id": 2, "text": "</s>", "logprob": -0.1, "special": True}
STATUS_OF_TYPE = {"overloaded": 429, "validation": 422, "generation": 424}


async def native_generation(
    server: FakeTGI, request: web.Request, body: dict[str, Any], *, stream: bool, as_list: bool = False
) -> web.StreamResponse:
    params = body.get("parameters") or {}
    grammar = params.get("grammar") or {}
    schema = _schema_of(grammar)
    prompt = str(body.get("inputs", ""))
    # A prompt that ends inside an open assistant turn asks the model to go on with it.
    plan = server.plan(prompt, content.last_user_text(prompt), schema, params, prefix=content.assistant_prefix(prompt))
    early = await server.early_failure(plan)
    if early is not None:
        return early
    error = server.in_stream_error(plan)
    if not stream:
        if error is not None:
            return error_response(error[0], error[1], STATUS_OF_TYPE[error[0]])
        return await _whole(server, request, plan, params, as_list)
    pieces, finish = server.tokens(plan)
    response = await open_sse(request)
    sent = 0
    try:
        if error is not None:
            await send(response, {"error": error[1], "error_type": error[0]})
            return response
        # With eos_token, the last event is the EOS token (special); else the last text token.
        body_pieces = pieces if finish == "eos_token" else pieces[:-1]
        async for index, piece in server.events(plan, body_pieces, keepalive(response)):
            await send(response, _stream_event(index, _token(piece)))
            sent = index
        last = _EOS if finish == "eos_token" else _token(pieces[-1] if pieces else "")
        final = _stream_event(len(body_pieces) + 1, last)
        final["generated_text"] = "".join(pieces)
        if params.get("details", True):
            final["details"] = {
                "finish_reason": finish,
                "generated_tokens": len(body_pieces) + 1,
                "input_length": content.count_tokens(plan.prompt),
                "seed": params.get("seed"),
            }
            server.reported.append((final["details"]["input_length"], final["details"]["generated_tokens"]))
        await send(response, final)
    except Drop:
        drop(request)
    except ConnectionResetError:  # the client closed the stream (a Stop): TGI cancels the request
        server.client_left(sent=sent, total=len(pieces))
    return response


async def _whole(
    server: FakeTGI, request: web.Request, plan: Plan, params: dict[str, Any], as_list: bool
) -> web.Response:
    pieces, finish = server.tokens(plan)
    try:
        async for _ in server.events(plan, pieces):
            pass
    except Drop:
        drop(request)
        return web.Response(status=500)
    answer: dict[str, Any] = {"generated_text": "".join(pieces)}
    if params.get("details"):
        answer["details"] = {
            "finish_reason": finish,
            "generated_tokens": len(pieces),
            "seed": params.get("seed"),
            "prefill": [],
            "tokens": [_token(p) for p in pieces],
        }
    return web.json_response([answer] if as_list else answer)


def _schema_of(grammar: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema of a TGI ``GrammarType`` (json / json_object / json_schema)."""
    kind, value = grammar.get("type"), grammar.get("value")
    if kind in ("json", "json_object") and value is not None:
        return value if isinstance(value, dict) else json.loads(value)
    if kind == "json_schema" and isinstance(value, dict):
        return dict(value.get("schema") or {})
    return None


def _stream_event(index: int, token: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "token": token, "top_tokens": [], "generated_text": None, "details": None}


def _token(text: str) -> dict[str, Any]:
    return {"id": content.token_id(text), "text": text, "logprob": -0.25, "special": False}
