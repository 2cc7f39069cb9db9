"""Any Matrix client: «Войти через электронный дневник» (OIDC) and phone + password.

A scripted client does what Element does: asks Synapse for its login flows,
follows the SSO redirect to the diary, signs in there, comes back to Synapse and
exchanges the login token for an access token that works.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from appservice.diary_sync.model import Diary
from appservice.school_sync import SchoolSync, SyncOptions
from kernel.ids import SourcedId
from parta.stack import SchoolStack
from tests.integration.diary_site import serve_school
from tests.school import small_school

pytestmark = pytest.mark.integration
PASSWORD = "пароль-дневника-2"
CLIENT = "http://client.example/after-login"


@pytest.fixture(scope="module")
async def diary(stack: SchoolStack, school: SchoolSync) -> Diary:
    base = small_school("sso")
    phones = {"sso-p2": "+7 900 777-12-34"}
    people = {pid: replace(p, phone=phones.get(pid, "")) for pid, p in base.people.items()}
    diary = replace(base, people=people)
    await serve_school(stack, school, diary, PASSWORD)
    return diary


async def _diary_sign_in(http: httpx.AsyncClient, url: str, login: str) -> httpx.Response:
    """Answer the diary's login page the way a person would; returns the redirect."""
    page = await http.get(url)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    nxt = re.search(r'name="next" value="([^"]+)"', page.text)
    assert csrf is not None
    assert nxt is not None
    form = {"csrf": csrf[1], "next": unescape(nxt[1]), "login": login, "password": PASSWORD}
    return await http.post(url.split("?")[0], data=form)


async def test_sso_from_a_matrix_client_ends_with_a_working_access_token(
    stack: SchoolStack, diary: Diary
) -> None:
    hs = stack.config.homeserver_url
    async with httpx.AsyncClient() as http:
        flows = (await http.get(f"{hs}/_matrix/client/v3/login")).json()["flows"]
        sso = next(f for f in flows if f["type"] == "m.login.sso")
        assert [p["name"] for p in sso["identity_providers"]] == ["Электронный дневник"]
        idp = sso["identity_providers"][0]["id"]
        to_diary = await http.get(
            f"{hs}/_matrix/client/v3/login/sso/redirect/{idp}", params={"redirectUrl": CLIENT}
        )
        assert to_diary.status_code == 302
        authorize = to_diary.headers["location"]
        assert authorize.startswith(f"{stack.config.diary_url}/oidc/authorize?")
        to_login = await http.get(authorize)
        assert to_login.status_code == 303
        signed_in = await _diary_sign_in(
            http, f"{stack.config.diary_url}{to_login.headers['location']}", "sso-s1"
        )
        assert signed_in.status_code == 303
        back = await http.get(f"{stack.config.diary_url}{signed_in.headers['location']}")
        assert back.status_code == 302, back.text
        callback = back.headers["location"]
        assert callback.startswith(f"{hs}/_synapse/client/oidc/callback?")
        # Synapse's session cookie is Secure: browsers send it to http://127.0.0.1, httpx
        # does not, so the scripted client carries it as a browser would.
        session = _cookie(to_diary, "oidc_session_no_samesite")
        confirm = await http.get(
            callback, headers={"Cookie": f"oidc_session_no_samesite={session}"}
        )
        # Synapse asks before handing the account to a client it does not know: in Russian,
        # naming the client, and with nothing fetched from outside the school
        assert 'lang="ru"' in confirm.text
        assert "Продолжить вход" in confirm.text
        assert "client.example" in confirm.text
        assert not _outside_links(confirm.text, allowed="http://client.example/")
        token = _login_token(confirm)
        login = await http.post(
            f"{hs}/_matrix/client/v3/login", json={"type": "m.login.token", "token": token}
        )
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        who = await http.get(f"{hs}/_matrix/client/v3/account/whoami", headers=auth)
        joined = await http.get(f"{hs}/_matrix/client/v3/joined_rooms", headers=auth)
    assert who.json()["user_id"] == f"@parta.sso-s1:{stack.config.server_name}"
    assert joined.json()["joined_rooms"]  # signing in linked the profile: the class is there


async def test_synapses_own_pages_speak_russian_and_fetch_nothing_from_outside(
    stack: SchoolStack, diary: Diary
) -> None:
    hs = stack.config.homeserver_url
    async with httpx.AsyncClient() as http:
        picker = await http.get(f"{hs}/_synapse/client/pick_idp", params={"redirectUrl": CLIENT})
        broken = await http.get(
            f"{hs}/_synapse/client/oidc/callback", params={"state": "forged", "code": "x"}
        )
    assert picker.status_code == 200, picker.text
    assert "Выберите, как войти" in picker.text
    assert "Электронный дневник" in picker.text
    assert broken.status_code == 400
    assert "Не удалось войти" in broken.text
    assert "Начните его заново" in broken.text
    for page in (picker, broken):
        assert 'lang="ru"' in page.text
        assert not _outside_links(page.text, allowed="")


def _outside_links(html: str, allowed: str) -> list[str]:
    """Absolute URLs a page would fetch or open, except those starting with ``allowed``."""
    found = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    found += re.findall(r"url\((?:'|\")?(https?://[^'\")]+)", html)
    return [url for url in found if not (allowed and url.startswith(allowed))]


def _cookie(answer: httpx.Response, name: str) -> str:
    for header in answer.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {answer.headers}")


def _login_token(answer: httpx.Response) -> str:
    """Synapse asks to confirm the client (a page with a link) or redirects straight there."""
    target = answer.headers.get("location", "")
    if not target:
        found = re.search(r'href="(http://client\.example/after-login[^"]+)"', answer.text)
        assert found is not None, answer.text[:2000]
        target = unescape(found[1])
    return str(parse_qs(urlparse(target).query)["loginToken"][0])


async def test_a_forged_or_wrong_client_is_refused_by_the_provider(
    stack: SchoolStack, diary: Diary
) -> None:
    url = stack.config.diary_url
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(f"{url}/.well-known/openid-configuration")).json()
        assert metadata["issuer"] == url
        forged = await http.post(
            f"{url}/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": "made-up",
                "client_id": "synapse",
                "client_secret": "wrong-secret",
                "redirect_uri": f"{stack.config.homeserver_url}/_synapse/client/oidc/callback",
            },
        )
        no_token = await http.get(f"{url}/oidc/userinfo")
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_client"
    assert no_token.status_code == 401


async def test_phone_and_password_sign_in_from_any_matrix_client(
    stack: SchoolStack, school: SchoolSync, diary: Diary
) -> None:
    await school.link(diary, SourcedId("sso-p2"), None, SyncOptions())
    diary_store = stack.open_diary_store()
    try:
        diary_store.set_matrix_user(SourcedId("sso-p2"), school.puppet_id(SourcedId("sso-p2")))
    finally:
        diary_store.close()
    hs = stack.config.homeserver_url

    def phone_login(password: str) -> dict[str, object]:
        return {
            "type": "m.login.password",
            # Both keys, as Element sends them: Synapse 1.163 reads "number" even when
            # "phone" (the spec's key) is present and answers 400 without it.
            "identifier": {
                "type": "m.id.phone",
                "country": "RU",
                "phone": "9007771234",
                "number": "9007771234",
            },
            "password": password,
        }

    async with httpx.AsyncClient() as http:
        wrong = await http.post(f"{hs}/_matrix/client/v3/login", json=phone_login("nope-nope"))
        right = await http.post(f"{hs}/_matrix/client/v3/login", json=phone_login(PASSWORD))
        by_login = await http.post(
            f"{hs}/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "sso-p2"},
                "password": PASSWORD,
            },
        )
    assert wrong.status_code == 403, wrong.text
    assert right.status_code == 200, right.text
    assert right.json()["user_id"] == f"@parta.sso-p2:{stack.config.server_name}"
    assert by_login.status_code == 200, by_login.text
