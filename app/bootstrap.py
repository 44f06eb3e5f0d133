"""The first admin: created from the command line, never by a default key."""

from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.models import User
from app.users.schemas import ApiKeyCreate, Role, UserCreate
from app.users.service import create_api_key, create_user


async def create_admin_key(settings: Settings, *, email: str, name: str) -> str:
    """An API key for the admin with this email (promoting or creating the user)."""
    engine = make_engine(settings)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            user = await session.scalar(select(User).where(col(User.email) == email.lower()))
            if user is None:
                user = await create_user(
                    session=session, data=UserCreate(name=name, email=email, role=Role.ADMIN)
                )
            user.role = Role.ADMIN.value
            _, secret = await create_api_key(
                session=session, user_id=user.id, data=ApiKeyCreate(name="bootstrap")
            )
        return secret
    finally:
        await engine.dispose()
