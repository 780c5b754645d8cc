"""The texts of the answer controls (core/controls.py), en and es; core/catalogue.py merges
them into its catalogues."""

from __future__ import annotations

EN: dict[str, str] = {
    "command.stop": "Stop the answer being written",
    "help.stop": "/stop - stop the answer being written (the text so far stays)",
    "usage.stop": "Usage: /stop",
    "control.stop": "⏹ Stop",
    "control.regenerate": "🔄 Regenerate",
    "control.up": "👍",
    "control.down": "👎",
    "control.continue": "⏩ Continue",
    "answer_stopped": "_(Stopped.)_",
    "control_stopping": "Stopping...",
    "nothing_to_stop": "There is no answer being written for you here.",
    "control_expired": "Sorry, this answer is too old for its buttons now. Please ask again.",
    "control_not_yours.stop": "Sorry, only the person who asked can stop this answer.",
    "control_not_yours.regenerate": "Sorry, only the person who asked can regenerate this answer.",
    "control_already_finished": "This answer is already finished.",
    "control_still_running": "This answer is still being written. Please wait for it to finish (or stop it).",
    "control_already_regenerated": "This answer is already being written again.",
    "control_regenerate_refused": "Sorry, I can't write a new answer right now (a limit applies). Try again later.",
    "control_unavailable": "Sorry, that button doesn't work here.",
    "feedback_thanks": "Thanks for your feedback.",
    "usage_feedback": "Feedback this month: {models}",
}

ES: dict[str, str] = {
    "command.stop": "Detener la respuesta que se está escribiendo",
    "help.stop": "/stop - detener la respuesta que se está escribiendo (el texto hasta ahí se queda)",
    "usage.stop": "Uso: /stop",
    "control.stop": "⏹ Detener",
    "control.regenerate": "🔄 Regenerar",
    "control.up": "👍",
    "control.down": "👎",
    "control.continue": "⏩ Continuar",
    "answer_stopped": "_(Detenido.)_",
    "control_stopping": "Deteniendo...",
    "nothing_to_stop": "No hay ninguna respuesta escribiéndose para ti aquí.",
    "control_expired": "Lo siento, esta respuesta es demasiado antigua para sus botones. Vuelve a preguntar.",
    "control_not_yours.stop": "Lo siento, solo quien preguntó puede detener esta respuesta.",
    "control_not_yours.regenerate": "Lo siento, solo quien preguntó puede regenerar esta respuesta.",
    "control_already_finished": "Esta respuesta ya está terminada.",
    "control_still_running": "Esta respuesta aún se está escribiendo. Espera a que termine (o detenla).",
    "control_already_regenerated": "Esta respuesta ya se está escribiendo de nuevo.",
    "control_regenerate_refused": (
        "Lo siento, ahora no puedo escribir una respuesta nueva (se aplica un límite). Inténtalo más tarde."
    ),
    "control_unavailable": "Lo siento, ese botón no funciona aquí.",
    "feedback_thanks": "Gracias por tu opinión.",
    "usage_feedback": "Valoraciones de este mes: {models}",
}
