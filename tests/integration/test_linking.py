"""Linking an existing Matrix account instead of a new puppet."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from appservice.diary_sync.plan import Invite
from appservice.diary_sync.state import Account
from appservice.school_sync import LinkError, SchoolSync, SyncOptions
from kernel.ids import SourcedId, UserID
from parta.stack import SchoolStack
from tests.school import small_school

pytestmark = pytest.mark.integration


async def register_ordinary_user(stack: SchoolStack, localpart: str) -> tuple[UserID, str]:
    """An account made outside parta (Synapse's shared-secret registration), as a parent's."""
    secret_path = stack.config.state_dir / "homeserver" / "secrets" / "registration_shared.secret"
    secret = secret_path.read_text(encoding="utf-8").strip().encode()
    password = "correct horse battery staple"
    url = f"{stack.config.homeserver_url}/_synapse/admin/v1/register"
    async with httpx.AsyncClient() as http:
        nonce = (await http.get(url)).json()["nonce"]
        message = b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"notadmin"])
        mac = hmac.new(secret, message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "mac": mac}
        answer = (await http.post(url, json=body)).json()
    return UserID(answer["user_id"]), str(answer["access_token"])


async def test_an_adult_links_an_existing_account_and_is_invited_not_forced(
    stack: SchoolStack, school: SchoolSync
) -> None:
    diary = small_school("ext")
    await school.run(diary, SyncOptions())
    user, token = await register_ordinary_user(stack, "mama-ext")
    linked = await school.link(diary, SourcedId("ext-p1"), user, SyncOptions())
    invites = [a for a in linked.actions if isinstance(a, Invite)]
    assert invites
    assert all(a.user_id == user for a in invites)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.config.homeserver_url, headers=auth) as http:
        sync = (await http.get("/_matrix/client/v3/sync")).json()
        invited = sorted(sync["rooms"]["invite"])
        assert len(invited) == len(invites)
        for room in invited:  # the parent accepts, from their own client
            assert (await http.post(f"/_matrix/client/v3/join/{room}", json={})).status_code == 200
    again = await school.run(diary, SyncOptions())
    assert again.actions == []


async def test_a_student_cannot_be_linked_to_an_account_on_another_server(
    school: SchoolSync,
) -> None:
    diary = small_school("far")
    with pytest.raises(LinkError, match="school's server"):
        await school.link(
            diary, SourcedId("far-s1"), UserID("@kid:elsewhere.example"), SyncOptions()
        )


async def test_a_refused_action_is_reported_and_the_rest_of_the_plan_still_runs(
    school: SchoolSync,
) -> None:
    diary = small_school("half")
    await school.run(diary, SyncOptions())
    parent, student = SourcedId("half-p1"), SourcedId("half-s1")
    remote = UserID("@mama:unreachable.example")  # federation with it is denied
    school.store.save_accounts({parent: Account(remote, puppet=False)}, linked=True)
    school.store.save_accounts({student: Account(school.puppet_id(student), True)}, linked=True)
    result = await school.run(diary, SyncOptions())
    assert result.report is not None
    assert {a.user_id for a, _e in result.report.failed} == {remote}  # type: ignore[union-attr]
    assert all("Federation denied" in str(e) for _a, e in result.report.failed)
    assert result.report.done["Join"] > 0  # the student still got into their rooms
