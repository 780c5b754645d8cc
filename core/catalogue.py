"""The bot's own fixed texts, in English and Spanish, chosen by the user's locale."""

from __future__ import annotations

DEFAULT_LOCALE = "en"

_EN: dict[str, str] = {
    "help": (
        "I can help with:\n"
        "/essay <title> - a short academic essay\n"
        "/summarize <text or file> - a summary (of a thread or file too)\n"
        "/translate <language> <text> - a translation\n"
        "/chat <message> - a conversation with memory\n"
        "/entities <text> - people, places, organisations and more\n"
        "/code <prompt> - an answer in a code block\n"
        "/models, /model <name> - the models and the model for this conversation\n"
        "/reset - forget this conversation\n"
        "/help - this text"
    ),
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
    "help": (
        "Puedo ayudarte con:\n"
        "/essay <título> - un ensayo académico breve\n"
        "/summarize <texto o archivo> - un resumen (también de un hilo o archivo)\n"
        "/translate <idioma> <texto> - una traducción\n"
        "/chat <mensaje> - una conversación con memoria\n"
        "/entities <texto> - personas, lugares, organizaciones y más\n"
        "/code <petición> - una respuesta en un bloque de código\n"
        "/models, /model <nombre> - los modelos y el modelo de esta conversación\n"
        "/reset - olvidar esta conversación\n"
        "/help - este texto"
    ),
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

# Suggested prompts for a new Slack assistant thread.
_EN.update(
    {
        "slack.prompt.essay.title": "Write a short essay",
        "slack.prompt.essay.message": "/essay The history of the printing press",
        "slack.prompt.translate.title": "Translate a sentence",
        "slack.prompt.translate.message": "/translate es Good morning, how are you?",
        "slack.prompt.code.title": "Write some code",
        "slack.prompt.code.message": "/code A Python function that checks whether a word is a palindrome",
    }
)
_ES.update(
    {
        "slack.prompt.essay.title": "Escribe un ensayo breve",
        "slack.prompt.essay.message": "/essay La historia de la imprenta",
        "slack.prompt.translate.title": "Traduce una frase",
        "slack.prompt.translate.message": "/translate en Buenos días, ¿cómo estás?",
        "slack.prompt.code.title": "Escribe código",
        "slack.prompt.code.message": "/code Una función en Python que compruebe si una palabra es un palíndromo",
    }
)

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
