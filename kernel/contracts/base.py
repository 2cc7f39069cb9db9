"""What every internal API of parta shares: frozen models that refuse unknown fields, and one
way to call an endpoint with its token and read the answer as its model.

A client and a server of one endpoint import the same request and answer models, so a field
renamed on one side fails loudly on the other instead of reading as empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=Message)


class ApiError(Exception):
    """The other side refused (``status``, its ``reason``), or could not be reached."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500 or self.status == 429


async def call(
    method: str,
    url: str,
    token: str,
    answer: type[M],
    *,
    body: Message | None = None,
    params: Mapping[str, str] | None = None,
    wait_s: float = 30.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> M:
    """One request with ``Authorization: Bearer <token>``; the answer as ``answer``."""
    try:
        async with httpx.AsyncClient(timeout=wait_s, transport=transport) as http:
            response = await http.request(
                method,
                url,
                params=params,
                json=body.model_dump(mode="json") if body is not None else None,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as e:
        raise ApiError(0, f"{url}: no answer ({type(e).__name__})") from e
    data = _json(response)
    if response.status_code != 200:
        reason = data.get("reason") or data.get("error") or response.text[:200]
        raise ApiError(response.status_code, str(reason))
    try:
        return answer.model_validate(data)
    except ValidationError as e:
        raise ApiError(502, f"{url}: an answer this release cannot read: {e.errors()[0]}") from e


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
