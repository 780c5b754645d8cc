"""The bot's own fixed texts, in English and Spanish, chosen by the user's locale."""

from __future__ import annotations

from core import answer_texts, control_texts

DEFAULT_LOCALE = "en"

_EN: dict[str, str] = {
    "help_header": "I can help with:",
    "help.essay": "/essay <title> - a short academic essay",
    "help.summarize": "/summarize <text or file> - a summary (of a thread or file too)",
    "help.translate": "/translate <language> <text> - a translation",
    "help.chat": "/chat <message> - a conversation with memory",
    "help.entities": "/entities <text> - people, places, organisations and more",
    "help.code": "/code <prompt> - an answer in a code block",
    "help.models": "/models - the models, and which answer now",
    "help.model": "/model <name> - the model for this conversation",
    "help.reset": "/reset - forget this conversation",
    "help.help": "/help - this text",
    "usage.essay": "Usage: /essay <title>",
    "usage.summarize": "Usage: /summarize <text>, or attach a .txt, .md, .pdf or .docx file",
    "usage.translate": "Usage: /translate <language> <text>, for example /translate de Good morning",
    "usage.chat": "Usage: /chat <message>",
    "usage.entities": "Usage: /entities <text>",
    "usage.code": "Usage: /code <prompt>",
    "usage.model": "Usage: /model <name>. Models: {models}",
    "unknown_language": "I don't know the language '{language}'. Try a name or ISO code, such as French or fr.",
    "too_long": "That text is too long: the limit is {limit} characters (yours has {length}).",
    "file_too_large": "The file '{name}' is too large: the limit is {limit}.",
    "file_unsupported": "I can't read '{name}'. I read {types} files.",
    "file_unreadable": "I couldn't read any text in '{name}'.",
    "reset_done": "Done: I've forgotten this conversation.",
    "model_set": "This conversation now uses the model '{model}'.",
    "model_unknown": "There is no model '{model}'. Models: {models}",
    "models_header": "Models (the one marked * is used here):",
    "model_reachable": "reachable",
    "model_unreachable": "not reachable",
    "working": "Working on it...",
    "model_busy": (
        "Sorry, the language model is busy or unavailable right now and I couldn't answer "
        "after {attempts} tries. Please try again in a minute."
    ),
    "model_rejected": "Sorry, the language model couldn't handle that request ({reason}).",
    "internal_error": "Sorry, something went wrong on my side and I couldn't answer. Please try again.",
    "entities_none": "I found no named entities.",
    "entities_header": "Entities found:",
    "entity.person": "People",
    "entity.organization": "Organisations",
    "entity.location": "Places",
    "entity.event": "Events",
    "entity.topic": "Topics",
    "entity.other": "Other",
    "nothing_to_summarize": "There is nothing to summarise here.",
    "asked_by": "{command} asked by {user}",
}

_ES: dict[str, str] = {
    "help_header": "Puedo ayudarte con:",
    "help.essay": "/essay <título> - un ensayo académico breve",
    "help.summarize": "/summarize <texto o archivo> - un resumen (también de un hilo o archivo)",
    "help.translate": "/translate <idioma> <texto> - una traducción",
    "help.chat": "/chat <mensaje> - una conversación con memoria",
    "help.entities": "/entities <texto> - personas, lugares, organizaciones y más",
    "help.code": "/code <petición> - una respuesta en un bloque de código",
    "help.models": "/models - los modelos, y cuáles responden ahora",
    "help.model": "/model <nombre> - el modelo de esta conversación",
    "help.reset": "/reset - olvidar esta conversación",
    "help.help": "/help - este texto",
    "usage.essay": "Uso: /essay <título>",
    "usage.summarize": "Uso: /summarize <texto>, o adjunta un archivo .txt, .md, .pdf o .docx",
    "usage.translate": "Uso: /translate <idioma> <texto>, por ejemplo /translate de Buenos días",
    "usage.chat": "Uso: /chat <mensaje>",
    "usage.entities": "Uso: /entities <texto>",
    "usage.code": "Uso: /code <petición>",
    "usage.model": "Uso: /model <nombre>. Modelos: {models}",
    "unknown_language": "No conozco el idioma '{language}'. Prueba con un nombre o código ISO, como francés o fr.",
    "too_long": "Ese texto es demasiado largo: el límite es de {limit} caracteres (el tuyo tiene {length}).",
    "file_too_large": "El archivo '{name}' es demasiado grande: el límite es {limit}.",
    "file_unsupported": "No puedo leer '{name}'. Leo archivos {types}.",
    "file_unreadable": "No encontré texto legible en '{name}'.",
    "reset_done": "Hecho: he olvidado esta conversación.",
    "model_set": "Esta conversación usa ahora el modelo '{model}'.",
    "model_unknown": "No existe el modelo '{model}'. Modelos: {models}",
    "models_header": "Modelos (el marcado con * es el que se usa aquí):",
    "model_reachable": "disponible",
    "model_unreachable": "no disponible",
    "working": "Trabajando en ello...",
    "model_busy": (
        "Lo siento, el modelo de lenguaje está ocupado o no disponible y no pude responder "
        "tras {attempts} intentos. Vuelve a intentarlo en un minuto."
    ),
    "model_rejected": "Lo siento, el modelo de lenguaje no pudo procesar esa petición ({reason}).",
    "internal_error": "Lo siento, algo falló por mi parte y no pude responder. Inténtalo de nuevo.",
    "entities_none": "No encontré entidades con nombre.",
    "entities_header": "Entidades encontradas:",
    "entity.person": "Personas",
    "entity.organization": "Organizaciones",
    "entity.location": "Lugares",
    "entity.event": "Eventos",
    "entity.topic": "Temas",
    "entity.other": "Otras",
    "nothing_to_summarize": "No hay nada que resumir aquí.",
    "asked_by": "{command} pedido por {user}",
}

CATALOGUES: dict[str, dict[str, str]] = {"en": _EN, "es": _ES}


def language_of(locale: str | None) -> str:
    """'es-MX', 'es_ES', 'es' -> 'es'; anything we don't carry -> English."""
    if not locale:
        return DEFAULT_LOCALE
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in CATALOGUES else DEFAULT_LOCALE


def has(key: str) -> bool:
    return key in _EN


def text(key: str, locale: str | None = None, **params: object) -> str:
    catalogue = CATALOGUES[language_of(locale)]
    template = catalogue.get(key) or _EN[key]
    return template.format(**params) if params else template

_EN["empty_answer"] = "The model returned an empty answer. Please try rephrasing."
_ES["empty_answer"] = "El modelo devolvió una respuesta vacía. Prueba a reformular."
_EN["entities_bad_json"] = "The model's entity list could not be read. Please try again."
_ES["entities_bad_json"] = "No se pudo leer la lista de entidades del modelo. Inténtalo de nuevo."
_EN["summarizing_parts"] = "Summarising a long text in {parts} parts..."
_ES["summarizing_parts"] = "Resumiendo un texto largo en {parts} partes..."

# One-line command descriptions for the platforms' command menus.
_EN.update(
    {
        "command.start": "Start: what I can do",
        "command.help": "What I can do",
        "command.essay": "A short academic essay on a title",
        "command.summarize": "Summarise text, a replied-to message or a document",
        "command.translate": "Translate text into a language",
        "command.chat": "Talk with me; I remember this conversation",
        "command.entities": "List the people, places and organisations in a text",
        "command.code": "Answer with code",
        "command.reset": "Forget this conversation",
        "command.model": "Choose the model for this conversation",
        "command.models": "List the models",
    }
)
_ES.update(
    {
        "command.start": "Empezar: lo que puedo hacer",
        "command.help": "Lo que puedo hacer",
        "command.essay": "Un ensayo académico breve sobre un título",
        "command.summarize": "Resumir un texto, un mensaje respondido o un documento",
        "command.translate": "Traducir un texto a un idioma",
        "command.chat": "Hablar conmigo; recuerdo esta conversación",
        "command.entities": "Listar las personas, lugares y organizaciones de un texto",
        "command.code": "Responder con código",
        "command.reset": "Olvidar esta conversación",
        "command.model": "Elegir el modelo de esta conversación",
        "command.models": "Ver los modelos",
    }
)

# Descriptions of each command's options, for the platforms that type them (Discord).
_EN.update(
    {
        "option.essay.title": "The essay's title",
        "option.summarize.text": "The text to summarise",
        "option.summarize.file": "A .txt, .md, .pdf or .docx file to summarise",
        "option.summarize.messages": "How many recent messages of this channel to summarise",
        "option.translate.language": "The target language",
        "option.translate.text": "The text to translate",
        "option.chat.text": "Your message",
        "option.entities.text": "The text to analyse",
        "option.code.text": "What the code should do",
        "option.model.name": "The model's name",
    }
)
_ES.update(
    {
        "option.essay.title": "El título del ensayo",
        "option.summarize.text": "El texto que resumir",
        "option.summarize.file": "Un archivo .txt, .md, .pdf o .docx que resumir",
        "option.summarize.messages": "Cuántos mensajes recientes del canal resumir",
        "option.translate.language": "El idioma de destino",
        "option.translate.text": "El texto que traducir",
        "option.chat.text": "Tu mensaje",
        "option.entities.text": "El texto que analizar",
        "option.code.text": "Qué debe hacer el código",
        "option.model.name": "El nombre del modelo",
    }
)

# /ask: questions about a file, a thread, a replied-to message or the conversation.
_EN.update(
    {
        "command.ask": "Ask a question about a file, this thread or our conversation",
        "help.ask": "/ask <question> - an answer from a file, the thread or replied-to message, or our conversation",
        "usage.ask": "Usage: /ask <question>; attach a .txt, .md, .pdf or .docx file, or ask in a thread or reply",
        "option.ask.question": "Your question",
        "option.ask.file": "A .txt, .md, .pdf or .docx file to answer from",
    }
)
_ES.update(
    {
        "command.ask": "Preguntar sobre un archivo, este hilo o nuestra conversación",
        "help.ask": (
            "/ask <pregunta> - una respuesta a partir de un archivo, el hilo o mensaje respondido, o la conversación"
        ),
        "usage.ask": (
            "Uso: /ask <pregunta>; adjunta un archivo .txt, .md, .pdf o .docx, o pregunta en un hilo o respuesta"
        ),
        "option.ask.question": "Tu pregunta",
        "option.ask.file": "Un archivo .txt, .md, .pdf o .docx del que sacar la respuesta",
    }
)

# Reliability (issue 11): files that would cost far more to read than they weigh, stalls.
_EN.update(
    {
        "file_bomb": "I won't read '{name}': it unpacks to far more data than a document of its size holds.",
        "file_text_too_long": "The file '{name}' has more than {limit} characters of text, more than I can summarise.",
        "model_stalled_retrying": "(The language model stopped answering; trying again...)",
    }
)
_ES.update(
    {
        "file_bomb": (
            "No voy a leer '{name}': se descomprime en muchos más datos de los que contiene un documento de su tamaño."
        ),
        "file_text_too_long": (
            "El archivo '{name}' tiene más de {limit} caracteres de texto, más de lo que puedo resumir."
        ),
        "model_stalled_retrying": "(El modelo de lenguaje dejó de responder; lo intento de nuevo...)",
    }
)

# Waiting-line caps (tertulia/leases.py) and an unreachable store.
_EN.update(
    {
        "too_many_waiting_conversation": (
            "This conversation already has {count} messages waiting for an answer (the limit is {limit}). "
            "Please wait for them before sending more."
        ),
        "too_many_waiting_user": (
            "You already have {count} requests waiting for an answer (the limit is {limit}). "
            "Please wait for them before sending more."
        ),
        "store_unreachable": "Redis is unreachable at {url} ({reason}); is it running?",
    }
)
_ES.update(
    {
        "too_many_waiting_conversation": (
            "Esta conversación ya tiene {count} mensajes esperando respuesta (el límite es {limit}). "
            "Espera a que terminen antes de enviar más."
        ),
        "too_many_waiting_user": (
            "Ya tienes {count} peticiones esperando respuesta (el límite es {limit}). "
            "Espera a que terminen antes de enviar más."
        ),
        "store_unreachable": "Redis no responde en {url} ({reason}); ¿está en marcha?",
    }
)

# An adapter that cannot reach the queue says so rather than dropping the message.
_EN["temporarily_unavailable"] = (
    "Sorry, I can't take requests right now (my queue is unreachable). Please try again in a minute."
)
_ES["temporarily_unavailable"] = (
    "Lo siento, ahora mismo no puedo atender peticiones (mi cola no responde). Inténtalo de nuevo en un minuto."
)

# The policy (issue 13): allowlists, admins, limits, usage, personas, hosted models.
_EN.update(
    {
        "command.persona": "Show or set this channel's persona (its system text)",
        "help.persona": "/persona [text | reset] - this channel's persona (admins set it)",
        "command.usage": "Your usage today and this month, and what remains",
        "help.usage": "/usage - your usage today and this month",
        "option.persona.text": "The persona's text, or reset",
        "usage.persona": "Usage: /persona, /persona <text> or /persona reset",
        "usage.usage": "Usage: /usage",
        "policy_outsider": "Sorry, this bot isn't open to you here. Ask an admin of this workspace to add you.",
        "policy_admin_only": "Only an admin can do that here.",
        "policy_off": "There is no policy in this deployment, so nothing is counted or set here.",
        "model_forbidden": "The model '{model}' isn't allowed here. Ask an admin for another one.",
        "model_hosted": "hosted API: messages leave this deployment",
        "limit_rate": "Too many requests: the limit is {limit} a minute. You can go on in {wait}.",
        "limit_user_tokens": "You've used your {limit} tokens for today. Your budget resets in {wait} (00:00 UTC).",
        "limit_place_tokens": (
            "This place has used its {limit} tokens for today. The budget resets in {wait} (00:00 UTC)."
        ),
        "limit_concurrent": "You already have {limit} requests running. You can go on {wait}.",
        "wait_unknown": "when one of them finishes",
        "usage_today": "Today: {requests} requests, {input} tokens in, {output} tokens out.",
        "usage_month": "This month: {requests} requests, {input} tokens in, {output} tokens out.",
        "usage_left": "Left today: {left} of {limit} tokens.",
        "usage_place_left": "Left today here: {left} of {limit} tokens.",
        "usage_place_today": "Here today (everyone): {requests} requests, {input} tokens in, {output} tokens out.",
        "usage_place_month": "Here this month (everyone): {requests} requests, {input} tokens in, {output} tokens out.",
        "usage_top": "Top users this month: {users}",
        "persona_none": "This channel has no persona: I use my usual instructions.",
        "persona_current": "This channel's persona:\n{persona}",
        "persona_set": "Done: /chat and mentions here now use this persona.",
        "persona_cleared": "Done: this channel's persona is cleared.",
        "persona_too_long": "That persona is too long: the limit is {limit} characters (yours has {length}).",
    }
)
_ES.update(
    {
        "command.persona": "Ver o fijar la personalidad de este canal (su texto de sistema)",
        "help.persona": "/persona [texto | reset] - la personalidad de este canal (la fijan los administradores)",
        "command.usage": "Tu consumo de hoy y de este mes, y lo que te queda",
        "help.usage": "/usage - tu consumo de hoy y de este mes",
        "option.persona.text": "El texto de la personalidad, o reset",
        "usage.persona": "Uso: /persona, /persona <texto> o /persona reset",
        "usage.usage": "Uso: /usage",
        "policy_outsider": (
            "Lo siento, este bot no está abierto para ti aquí. Pide a un administrador de este espacio que te añada."
        ),
        "policy_admin_only": "Solo un administrador puede hacer eso aquí.",
        "policy_off": "Este despliegue no tiene política, así que aquí no se cuenta ni se fija nada.",
        "model_forbidden": "El modelo '{model}' no está permitido aquí. Pide otro a un administrador.",
        "model_hosted": "API alojada: los mensajes salen de este despliegue",
        "limit_rate": "Demasiadas peticiones: el límite es de {limit} por minuto. Puedes seguir en {wait}.",
        "limit_user_tokens": (
            "Has usado tus {limit} tokens de hoy. Tu presupuesto se renueva en {wait} (a las 00:00 UTC)."
        ),
        "limit_place_tokens": (
            "Este espacio ha usado sus {limit} tokens de hoy. El presupuesto se renueva en {wait} (a las 00:00 UTC)."
        ),
        "limit_concurrent": "Ya tienes {limit} peticiones en curso. Puedes seguir {wait}.",
        "wait_unknown": "cuando termine alguna",
        "usage_today": "Hoy: {requests} peticiones, {input} tokens de entrada, {output} de salida.",
        "usage_month": "Este mes: {requests} peticiones, {input} tokens de entrada, {output} de salida.",
        "usage_left": "Te quedan hoy: {left} de {limit} tokens.",
        "usage_place_left": "Quedan hoy aquí: {left} de {limit} tokens.",
        "usage_place_today": "Aquí hoy (todos): {requests} peticiones, {input} tokens de entrada, {output} de salida.",
        "usage_place_month": (
            "Aquí este mes (todos): {requests} peticiones, {input} tokens de entrada, {output} de salida."
        ),
        "usage_top": "Quienes más usan este mes: {users}",
        "persona_none": "Este canal no tiene personalidad: uso mis instrucciones habituales.",
        "persona_current": "La personalidad de este canal:\n{persona}",
        "persona_set": "Hecho: /chat y las menciones aquí usan ahora esta personalidad.",
        "persona_cleared": "Hecho: la personalidad de este canal se ha borrado.",
        "persona_too_long": (
            "Esa personalidad es demasiado larga: el límite es de {limit} caracteres (la tuya tiene {length})."
        ),
    }
)

# Answer controls (core/controls.py), files in a turn and cut answers (core/answer_texts.py).
_EN.update(control_texts.EN)
_ES.update(control_texts.ES)
_EN.update(answer_texts.EN)
_ES.update(answer_texts.ES)
