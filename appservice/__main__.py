"""Composition root of the appservice process: ``python -m appservice -c parta.yaml``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from twisted.internet import reactor

from appservice.server import AppserviceResource, make_site
from appservice.store import Store
from parta.config import ConfigError, load_config
from parta.secrets import SecretError, read_secret_file

log = logging.getLogger("appservice")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appservice")
    parser.add_argument("-c", "--config", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config)
        hs_token = read_secret_file(config.hs_token_file)
    except (ConfigError, SecretError) as e:
        print(f"parta appservice: {e}", file=sys.stderr)
        return 2
    store = Store.open(config.store_url(), now_ms=lambda: int(time.time() * 1000))
    resource_ = AppserviceResource(store, hs_token)
    port = config.appservice.port
    the_reactor: Any = reactor  # the module is typed as a module, not as the reactor it is
    the_reactor.listenTCP(port, make_site(resource_), interface=config.appservice.bind_host)
    log.info("appservice listening on %s:%d", config.appservice.bind_host, port)
    the_reactor.run()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
