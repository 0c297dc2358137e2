"""The Bokeh server process: signed sessions only, websockets only from the web app's pages.

`generate_session_ids=False` plus `sign_sessions=True` means a session exists only when the
browser brings an id signed with SECRET_KEY, which only the web app (after its login and
role check) hands out; opening the Bokeh URL directly gets a 403.  Every request and websocket
of a session must also carry the web app's grant for it (`visualization.access`), which expires
after BOKEH_SESSION_EXPIRY_S and with its user's logout or deactivation.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.server.server import Server
from sqlalchemy.orm import sessionmaker

from oceanwatch.access.live_grants import LIVE_PATH
from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.events.query import EventRules
from oceanwatch.runtime.service import StopFlag
from visualization.access import GrantAuth
from visualization.feed import LiveFeed
from visualization.live import make_document

log = logging.getLogger(__name__)


def url_prefix(settings: Settings) -> str:
    """The path part of BOKEH_URL (e.g. `/bokeh` behind nginx), which the server must answer under."""
    return urlsplit(settings.resolved_bokeh_url()).path.rstrip("/")


def make_server(settings: Settings, feed: LiveFeed, address: str | None = None, port: int | None = None) -> Server:
    """The server of the live application; its sessions take their updates from `feed`."""
    factory = feed.session_factory
    live = Application(
        FunctionHandler(
            make_document(
                factory,
                feed,
                settings.hydrophone.id,
                settings.hydrophone.lat,
                settings.hydrophone.lon,
                settings.truth.radii_km,
            )
        )
    )
    return Server(
        {LIVE_PATH: live},
        address=address or settings.web.host,
        port=settings.bokeh.port if port is None else port,
        allow_websocket_origin=settings.resolved_bokeh_origins(),
        sign_sessions=True,
        secret_key=settings.resolved_secret_key().encode(),
        generate_session_ids=False,
        use_xheaders=True,
        session_token_expiration=settings.bokeh.session_expiry_s,
        auth_provider=GrantAuth(factory),
        prefix=url_prefix(settings),
    )


def serve(settings: Settings, stop: StopFlag) -> None:
    """Run until the stop flag is set (SIGTERM/SIGINT), then stop the IO loop cleanly."""
    factory = sessionmaker(engine_for(settings.require_database_url()), expire_on_commit=False)
    feed = LiveFeed(factory, settings.truth.radii_km, EventRules.from_settings(settings))
    feed.start()
    server = make_server(settings, feed)
    server.start()
    log.info(
        "bokeh server on %s:%s%s, websocket origins %s",
        settings.web.host,
        server.port,
        LIVE_PATH,
        settings.resolved_bokeh_origins(),
    )

    def stopper() -> None:
        stop.wait()
        server.io_loop.add_callback(server.io_loop.stop)

    threading.Thread(target=stopper, daemon=True, name="bokeh-stop").start()
    server.io_loop.start()
    server.stop()
    feed.stop()
