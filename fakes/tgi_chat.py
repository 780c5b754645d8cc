"""TGI's OpenAI-compatible ``POST /v1/chat/completions`` for the fake server (see
``router/src/server.rs::chat_completions`` and ``router/src/chat.rs``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fakes import tgi_content as content
from fakes.sse import Drop, drop, error_response, keepalive, open_sse, send
from fakes.tgi_native import STATUS_OF_TYPE

if TYPE_CHECKING:
    from fakes.tgi_server import FakeTGI

_FINISH = {"eos_token": "stop", "length": "length", "stop_sequence": "stop_sequence"}


def _response_format_schema(fmt: Any, openai_form: bool) -> tuple[dict[str, Any] | None, str | None]:
    """TGI deserialises ``response_format`` as ``GrammarType`` (tag ``type``, content
    ``value``; ``json_object`` is an alias of ``json``). Anything else is the 422 axum
    gives a body it can't deserialise."""
    if fmt is None:
        return None, None
    if openai_form and isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        return fmt["json_schema"].get("schema"), None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("json", "json_object", "json_schema", "regex"):
        return None, "Failed to deserialize the JSON body into the target type: response_format: unknown variant"
    if "value" not in fmt:
        return None, "Failed to deserialize the JSON body into the target type: response_format: missing field `value`"
    value = fmt["value"]
    if fmt["type"] == "json_schema":
        return (value.get("schema") if isinstance(value, dict) else None), None
    if fmt["type"] == "regex":
        return None, None
    return (value if isinstance(value, dict) else None), None


async def chat_completion(server: FakeTGI, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    messages = body.get("messages") or []
    schema, bad = _response_format_schema(body.get("response_format"), server.openai_json_schema)
    if bad is not None:
        return web.Response(status=422, text=bad)
    bad = content.content_error(messages)
    if bad is not None:
        return web.Response(status=422, text=bad)
    params = {"max_new_tokens": body.get("max_tokens"), "stop": body.get("stop") or []}
    # continue_final_message (TGI's ChatRequest, vLLM's extra parameter): the template leaves
    # the final assistant message open and the model goes on with it. vLLM refuses it
    # together with add_generation_prompt (its default is true; TGI has no such field).
    go_on = bool(body.get("continue_final_message"))
    if go_on and body.get("add_generation_prompt") is True:
        return web.Response(
            status=400, text="Cannot set both `continue_final_message` and `add_generation_prompt` to True."
        )
    prefix = ""
    if go_on and messages and messages[-1].get("role") == "assistant":
        prefix = str(messages[-1].get("content") or "")
    prompt = content.chat_prompt(messages, continue_final=bool(prefix))
    plan = server.plan(prompt, content.chat_user_text(messages), schema, params, prefix=prefix)
    early = await server.early_failure(plan)
    if early is not None:
        return early
    model = body.get("model")
    model_id = server.model_id if model in (None, "tgi") else str(model)
    fingerprint = "3.3.6-fake-native"
    error = server.in_stream_error(plan)
    pieces, finish = server.tokens(plan)
    prompt_tokens = content.count_tokens(prompt)
    generated = len(pieces) + (1 if finish == "eos_token" else 0)  # TGI counts the EOS token
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": generated,
        "total_tokens": prompt_tokens + generated,
    }
    base = {"id": "", "created": int(time.time()), "model": model_id, "system_fingerprint": fingerprint}

    if not body.get("stream"):
        if error is not None:
            return error_response(error[0], error[1], STATUS_OF_TYPE[error[0]])
        try:
            async for _ in server.events(plan, pieces):
                pass
        except Drop:
            drop(request)
            return web.Response(status=500)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(pieces)},
            "logprobs": None,
            "finish_reason": _FINISH[finish],
        }
        return web.json_response({"object": "chat.completion", **base, "choices": [choice], "usage": usage})

    response = await open_sse(request)
    sent = 0
    try:
        if error is not None:
            # TGI's into_openai_event: every kind is sent this way, with status 422.
            await send(response, {"error": {"message": error[1], "http_status_code": 422}})
            await send(response, "[DONE]")
            return response
        body_pieces = pieces if finish == "eos_token" else pieces[:-1]
        async for index, piece in server.events(plan, body_pieces, keepalive(response)):
            await send(response, _chunk(base, piece, None))
            sent = index
        # The last token: EOS is special, so its delta content is "" (chat.rs).
        last = "" if finish == "eos_token" else (pieces[-1] if pieces else "")
        await send(response, _chunk(base, last, _FINISH[finish]))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(response, {"object": "chat.completion.chunk", **base, "choices": [], "usage": usage})
        await send(response, "[DONE]")
    except Drop:
        drop(request)
    except ConnectionResetError:  # the client closed the stream (a Stop): TGI cancels the request
        server.client_left(sent=sent, total=len(pieces))
    return response


def _chunk(base: dict[str, Any], text: str, finish: str | None) -> dict[str, Any]:
    choice = {
        "index": 0,
        "delta": {"role": "assistant", "content": text},
        "logprobs": None,
        "finish_reason": finish,
    }
    return {"object": "chat.completion.chunk", **base, "choices": [choice], "usage": None}


async def text_completion(server: FakeTGI, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    """``POST /v1/completions``, OpenAI's raw-prompt API as llama-cpp-python serves it
    (``llama_cpp/llama.py::_create_completion``; TGI has the same route): chunks of
    ``object: "text_completion"`` with ``choices[].text``, the last one ``text: ""`` with the
    finish reason ("length" or "stop"; a stop sequence is cut from the text), then [DONE]."""
    prompt = str(body.get("prompt") or "")
    params = {"max_new_tokens": body.get("max_tokens"), "stop": body.get("stop") or []}
    plan = server.plan(
        prompt, content.last_user_text(prompt), None, params, prefix=content.assistant_prefix(prompt)
    )
    early = await server.early_failure(plan)
    if early is not None:
        return early
    error = server.in_stream_error(plan)
    if error is not None:
        return error_response(error[0], error[1], STATUS_OF_TYPE[error[0]])
    pieces, finish = server.tokens(plan)
    if finish == "stop_sequence":
        text = "".join(pieces)
        cut = min((i for i in (text.find(s) for s in plan.stop if s) if i >= 0), default=len(text))
        pieces = content.pieces(text[:cut])
    reason = "length" if finish == "length" else "stop"
    base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": body.get("model")}
    if not body.get("stream"):
        choice = {"text": "".join(pieces), "index": 0, "logprobs": None, "finish_reason": reason}
        usage = {"prompt_tokens": content.count_tokens(prompt), "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return web.json_response({**base, "choices": [choice], "usage": usage})
    response = await open_sse(request)
    try:
        async for _, piece in server.events(plan, pieces, keepalive(response)):
            await send(response, _text_chunk(base, piece, None))
        await send(response, _text_chunk(base, "", reason))
        await send(response, "[DONE]")
    except Drop:
        drop(request)
    return response


def _text_chunk(base: dict[str, Any], text: str, finish: str | None) -> dict[str, Any]:
    return {**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
