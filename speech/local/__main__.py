"""`python -m speech.local`: the local provider's service, configured from the environment (speech/local/conf.py)."""

import logging
import os
import sys

from aiohttp import web

from .app import make_app
from .conf import ConfigError, config_from_env


def main():
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("aioice").setLevel(logging.WARNING)  # a line per ICE check otherwise
    # aiohttp's access log: a line per request unless ACCESS_LOG=false, like make serve.
    access_log = logging.getLogger("aiohttp.access") if os.environ.get("ACCESS_LOG", "true") != "false" else None
    try:
        config = config_from_env()
    except ConfigError as exc:
        print(f"speech.local: {exc}", file=sys.stderr)
        return 2
    print(f"Local realtime provider on http://{config.host}:{config.port}/v1", flush=True)
    every = "every interface address but loopback and link-local IPv6 (none configured)"
    offered = ", ".join(config.ice_addresses) or every
    print(f"ICE: STUN server {config.stun or 'none'}; answers offer {offered}", flush=True)
    # run_app stops on SIGINT and SIGTERM, closing every call first (the app's on_shutdown).
    web.run_app(make_app(config), host=config.host, port=config.port, access_log=access_log, print=None,
                shutdown_timeout=5)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
