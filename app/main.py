"""The FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq import create_pool
from fastapi import APIRouter, FastAPI

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.errors import install_error_handlers
from app.health import router as health_router
from app.incidents.links_router import router as links_router
from app.incidents.router import router as incidents_router
from app.instance import ACTION_LINKS, instance_secret
from app.limits import BodySizeLimit
from app.policies.router import router as policies_router
from app.queue import arq_enqueuer
from app.redis_url import arq_redis_settings
from app.services.router import router as services_router
from app.users.router import router as users_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API; the lifespan opens the database engine and the arq pool."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        redis = await create_pool(
            arq_redis_settings(settings.redis_url), default_queue_name=settings.queue_name
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.redis = redis
        app.state.enqueue = arq_enqueuer(redis)
        app.state.link_secret = settings.secret_key or await instance_secret(sessions, ACTION_LINKS)
        try:
            yield
        finally:
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Stairway",
        version="0.1.0",
        lifespan=lifespan,
        description="Incident paging and escalation.",
    )
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")
    for router in (users_router, policies_router, services_router, incidents_router):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health_router)
    app.include_router(links_router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
