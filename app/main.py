"""The FastAPI application."""

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from app.audit.router import router as audit_router
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, open_pool
from app.docs import DOCS_ASSETS, docs_assets
from app.docs import router as docs_router
from app.errors import install_error_handlers
from app.events.router import router as webhook_subscriptions_router
from app.health import router as health_router
from app.incidents.actions_router import router as incident_actions_router
from app.incidents.router import router as incidents_router
from app.instance import ACTION_LINKS, instance_secret
from app.integrations import enqueue
from app.integrations.events_router import router as inbound_events_router
from app.integrations.heartbeats.router import router as heartbeats_router
from app.integrations.inbox import Waker
from app.integrations.opsgenie_router import router as opsgenie_router
from app.integrations.router import router as integrations_router
from app.integrations.trigger_router import router as trigger_router
from app.limits import BodySizeLimit, JsonBodyCheck
from app.notify.registry import build_providers, make_http_client
from app.policies.router import router as policies_router
from app.process import keep_out_of_full_collections
from app.queue import arq_enqueuer
from app.redis_url import connect_redis
from app.reports.router import router as reports_router
from app.request_ids import RequestIds
from app.responders.links_router import router as links_router
from app.responders.mattermost import router as mattermost_router
from app.responders.pushover import router as pushover_router
from app.responders.slack import router as slack_router
from app.responders.telegram import router as telegram_router
from app.responders.twilio import router as twilio_router
from app.responders.vonage import router as vonage_router
from app.routing.router import router as routing_router
from app.schedules.feeds_router import router as calendar_feeds_router
from app.schedules.router import router as schedules_router
from app.services.router import router as services_router
from app.teams.router import router as teams_router
from app.users.router import router as users_router
from app.web import install as install_console
from app.web.live import IncidentFeed


class StairwayApp(FastAPI):
    """The API, with `POST /v2/enqueue` answered ahead of the framework.

    Alert storms arrive there: `app/integrations/enqueue.py` reads the body (under the inbound
    size limit), queues the event and answers without the middleware, routing and dependency
    resolution every other request goes through. The route of the same path documents it.
    """

    def __init__(self, *, max_inbound_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enqueue_endpoint = BodySizeLimit(
            functools.partial(enqueue.serve, self.state), max_bytes=max_inbound_body_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == enqueue.PATH and scope["method"] == "POST":
            await self.enqueue_endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the lifespan opens the database engine and the arq pool."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        redis = await connect_redis(settings.redis_url, queue_name=settings.queue_name)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.redis = redis
        app.state.enqueue = arq_enqueuer(redis)
        app.state.pg = await open_pool(
            engine,
            max_size=settings.db_pool_size,
            timeout_seconds=settings.db_pool_timeout_seconds,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
        )
        app.state.inbox_waker = Waker(app.state.enqueue)
        app.state.link_secret = settings.secret_key or await instance_secret(sessions, ACTION_LINKS)
        # Verification codes and test pages go out from the API through the real providers.
        app.state.http = make_http_client(settings)
        app.state.providers = build_providers(app.state.http, settings, redis)
        keep_out_of_full_collections()
        app.state.feed = IncidentFeed.for_engine(engine)
        try:
            yield
        finally:
            await app.state.http.aclose()
            await app.state.feed.close()
            await app.state.pg.close()
            await redis.aclose()
            await engine.dispose()

    app = StairwayApp(
        max_inbound_body_bytes=settings.max_inbound_body_bytes,
        title="Stairway",
        version="0.1.0",
        lifespan=lifespan,
        description="Incident paging and escalation.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.include_router(docs_router)
    app.mount(DOCS_ASSETS, docs_assets(), name="docs-assets")
    # Inbound alerts first: routes are matched in order, and these take the storms.
    app.include_router(integrations_router)
    app.include_router(opsgenie_router)
    api = APIRouter(prefix="/api/v1")
    # The incidents first: the routes are matched in order, and a responder's acknowledgement
    # should not walk past every admin route to find its own.
    routers = (
        trigger_router,  # POST /incidents, the generic inbound source
        incidents_router,
        incident_actions_router,
        users_router,
        schedules_router,
        policies_router,
        services_router,
    )
    for router in routers:
        api.include_router(router)
    api.include_router(reports_router)
    api.include_router(routing_router)
    api.include_router(heartbeats_router)
    api.include_router(inbound_events_router)
    api.include_router(webhook_subscriptions_router)
    api.include_router(audit_router)
    api.include_router(teams_router)
    app.include_router(api)
    app.include_router(health_router)
    app.include_router(links_router)
    app.include_router(calendar_feeds_router)
    app.include_router(slack_router)
    app.include_router(pushover_router)
    app.include_router(twilio_router)
    app.include_router(telegram_router)
    app.include_router(mattermost_router)
    app.include_router(vonage_router)
    inbound_prefixes = ("/v2/", "/integrations/")
    # Inbound alerts and Slack/Twilio callbacks read their bodies themselves.
    app.add_middleware(JsonBodyCheck, skip_prefixes=inbound_prefixes)
    install_console(app)
    inbound = settings.max_inbound_body_bytes
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        prefix_limits=tuple((prefix, inbound) for prefix in inbound_prefixes),
    )
    app.add_middleware(RequestIds)
    return app
