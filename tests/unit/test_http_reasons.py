"""The framework's English phrases become Russian; a page's own reason is kept."""

from __future__ import annotations

from kernel.http_reasons import reason


def test_bare_phrases_become_russian_and_page_reasons_stay() -> None:
    assert reason(404, "Not Found") == "Такой страницы нет"
    assert reason(405, "Method Not Allowed") == "Так эту страницу открыть нельзя"
    assert reason(404, None) == "Такой страницы нет"
    assert reason(403, "Этот журнал вам недоступен") == "Этот журнал вам недоступен"
    assert reason(418, "I'm a Teapot") == "Ошибка"
    assert reason(599, "") == "Ошибка"
