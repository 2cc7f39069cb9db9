"""The diary's composition root: ``python -m web_client -c school.yaml``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import uvicorn

from kernel.config import OIDC_CLIENT_ID, ConfigError, SchoolConfig, load_config
from kernel.db import StoreError
from kernel.metrics import serve
from kernel.secrets import SecretError, ensure_secret_file, read_secret_file
from web_client.app import build_app
from web_client.auth import Auth
from web_client.context import DiaryContext
from web_client.linking import Linker
from web_client.mail import make_sender
from web_client.oidc import Client, DiaryOidc, ensure_signing_key_file, person_lookup
from web_client.oidc_store import OidcStore
from web_client.sms import make_sms_sender
from web_client.store import DiaryStore


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def build_context(config: SchoolConfig, utc_now: Callable[[], datetime] = _utc_now) -> DiaryContext:
    """``utc_now``: the clock of sessions, links and the sign-in limits (tests turn it)."""
    zone = ZoneInfo(config.diary.timezone)

    def local_now() -> datetime:
        return datetime.now(zone).replace(tzinfo=None)

    store = DiaryStore.open(config.diary_store_url())
    secret = ensure_secret_file(config.secrets_dir / "diary_session_key", 48)
    return DiaryContext(
        config=config,
        store=store,
        auth=Auth(store, secret, config.diary, utc_now),
        sender=make_sender(config.diary.mail, config.state_dir),
        sms=make_sms_sender(config.diary.sms, config.state_dir),
        utc_now=utc_now,
        local_now=local_now,
        api_token=ensure_secret_file(config.diary_api_token_file),
        password_check_token=ensure_secret_file(config.password_check_token_file),
        invite_token=ensure_secret_file(config.invite_token_file),
    )


def build_oidc(config: SchoolConfig, ctx: DiaryContext) -> DiaryOidc:
    if config.diary_url.startswith("http://"):
        # Authlib refuses plain HTTP unless told; only development and tests run so.
        logging.getLogger(__name__).warning("the OpenID provider runs on plain HTTP")
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    key = ensure_signing_key_file(config.oidc_signing_key_file)
    client = Client(
        OIDC_CLIENT_ID,
        ensure_secret_file(config.oidc_client_secret_file),
        (f"{config.homeserver_public_url}/_synapse/client/oidc/callback",),
    )
    people = person_lookup(ctx.store, ctx.store.diary, config.server_name)
    return DiaryOidc(
        client, config.diary_url, key, OidcStore(ctx.store.engine), people, ctx.utc_now
    )


KEEP_ALIVE_S = 130
"""Longer than Synapse keeps an idle connection to reuse (two minutes): the client always
closes first. With uvicorn's 5 s, Synapse's OIDC token request sometimes went out on a
connection the diary had just closed («Internal server error» at sign-in, seen under load)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web_client")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        ctx = build_context(config)
        oidc = build_oidc(config, ctx)
        linker = Linker(
            config.appservice_url,
            read_secret_file(config.link_token_file),
            config.server_name,
            {config.server_name: config.homeserver_url, **config.diary.homeservers},
        )
    except (ConfigError, SecretError, StoreError, ZoneInfoNotFoundError) as e:
        print(f"web_client: {e}", file=sys.stderr)
        return 2
    serve(config.metrics, "diary")
    uvicorn.run(
        build_app(ctx, linker, oidc),
        host=config.diary.bind_host,
        port=config.diary.port,
        log_level="warning",
        proxy_headers=False,  # the app itself trusts diary.trusted_proxies' X-Forwarded-For
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
