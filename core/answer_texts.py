"""The texts of files and images in a turn (core/turnfiles.py, core/work.py) and of cut
answers and /continue (core/cut.py), en and es; core/catalogue.py merges them into its
catalogues."""

from __future__ import annotations

EN: dict[str, str] = {
    "option.chat.file": "A file to talk about: .txt, .md, .pdf, .docx, or an image for a model that sees them",
    "file_cut": "(Only the beginning of {names} fit in what the model can read at once; the rest was left out.)",
    "image_needs_vision": (
        "The model '{model}' reads text only, so it can't see your image. Models that see images: {models}. "
        "Choose one with /model, or send the text instead."
    ),
    "no_vision_models": "none in this deployment",
    # The words of a turn that is only an image (core/commands.files_alone).
    "image_alone": "What is in this image?",
    "answer_cut": "(The answer was cut here: it reached its length limit. Send /continue for the rest.)",
    "nothing_to_continue": "There is no cut answer to continue here.",
    "cannot_continue_that": (
        "That answer can't be continued any more: it was continued already, or a later answer here was cut. "
        "/continue goes on with the last cut answer."
    ),
    "nothing_more": "The model had nothing to add to that answer.",
    "too_long_to_continue": "That answer is as long as this model can take: it can't be continued.",
    "command.continue": "Continue the last answer that was cut",
    "help.continue": "/continue - the rest of the last answer that was cut",
    "usage.continue": "Usage: /continue",
}

ES: dict[str, str] = {
    "option.chat.file": "Un archivo del que hablar: .txt, .md, .pdf, .docx, o una imagen si el modelo las ve",
    "file_cut": (
        "(Solo el principio de {names} cupo en lo que el modelo puede leer de una vez; el resto quedó fuera.)"
    ),
    "image_needs_vision": (
        "El modelo '{model}' solo lee texto, así que no puede ver tu imagen. Modelos que ven imágenes: {models}. "
        "Elige uno con /model, o envía el texto."
    ),
    "no_vision_models": "ninguno en este despliegue",
    "image_alone": "¿Qué hay en esta imagen?",
    "answer_cut": "(La respuesta se cortó aquí: llegó a su límite de longitud. Envía /continue para el resto.)",
    "nothing_to_continue": "Aquí no hay ninguna respuesta cortada que continuar.",
    "cannot_continue_that": (
        "Esa respuesta ya no se puede continuar: ya se continuó, o después se cortó otra respuesta aquí. "
        "/continue sigue con la última respuesta cortada."
    ),
    "nothing_more": "El modelo no tenía nada más que añadir a esa respuesta.",
    "too_long_to_continue": "Esa respuesta es tan larga como este modelo admite: no se puede continuar.",
    "command.continue": "Continuar la última respuesta que se cortó",
    "help.continue": "/continue - el resto de la última respuesta que se cortó",
    "usage.continue": "Uso: /continue",
}
