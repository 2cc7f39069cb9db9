"""What a person reads when a page cannot be shown: Russian words for HTTP's English phrases.

Starlette answers an unknown address with "Not Found" and a wrong method with "Method Not
Allowed"; a school sees neither. A reason a page gave on purpose («Этот журнал вам
недоступен») is kept; only the framework's bare phrases are replaced.
"""

from __future__ import annotations

from http import HTTPStatus

RUSSIAN = {
    400: "Неверный запрос",
    401: "Нужно войти",
    403: "Нет доступа",
    404: "Такой страницы нет",
    405: "Так эту страницу открыть нельзя",
    413: "Слишком большой запрос или файл",
    429: "Слишком много попыток. Подождите немного",
    500: "Что-то пошло не так. Попробуйте ещё раз позже",
    502: "Сервис сейчас не отвечает. Попробуйте через несколько минут",
    503: "Сервис сейчас не отвечает. Попробуйте через несколько минут",
}


def reason(status: int, detail: str | None) -> str:
    """``detail`` when a page set it, else the status in Russian."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    if detail and detail != phrase:
        return detail
    return RUSSIAN.get(status, "Ошибка")
