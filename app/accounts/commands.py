"""The work behind `stairway users ...`: set a password, issue invite and sign-in links."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from app.accounts import links, passwords
from app.accounts.signin import find_user
from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.errors import field_error
from app.instance import ACTION_LINKS, instance_secret
from app.models import User
from app.users.schemas import Role, UserCreate
from app.users.service import create_user

SIGN_IN_LINK_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class IssuedLink:
    url: str
    user_name: str
    user_email: str
    ttl_seconds: int


async def set_password(settings: Settings, *, email: str, password: str) -> str:
    """Set the password of the user with this email; the user's name."""
    passwords.check_new_password(password)
    engine = make_engine(settings)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            user = await find_user(session=session, email=email)
            if user is None:
                raise field_error("email", f"no user has the email {email}")
            await passwords.set_password(session=session, user_id=user.id, password=password)
            return user.name
    finally:
        await engine.dispose()


async def issue_link(
    settings: Settings,
    *,
    email: str | None,
    purpose: links.Purpose,
    name: str = "",
    role: Role = Role.RESPONDER,
) -> IssuedLink:
    """A link for the user with `email` (an invite creates the user); with no email, a link
    for the first admin (or, with no admin, the first user)."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    try:
        secret = settings.secret_key or await instance_secret(sessions, ACTION_LINKS)
        async with transaction(sessions) as session:
            if email is None:
                # An admin if there is one, else whoever comes first by name.
                user = await session.scalar(
                    select(User)
                    .order_by(col(User.role) != Role.ADMIN.value, col(User.name))
                    .limit(1)
                )
                if user is None:
                    raise field_error("email", "no user exists yet; name one with --email")
            else:
                user = await find_user(session=session, email=email)
                if user is None and purpose is links.Purpose.INVITE:
                    data = UserCreate(name=name or email.split("@")[0], email=email, role=role)
                    user = await create_user(session=session, data=data)
                if user is None:
                    raise field_error("email", f"no user has the email {email}")
        ttl = (
            settings.invite_link_ttl_seconds if purpose.sets_password else SIGN_IN_LINK_TTL_SECONDS
        )
        token = links.issue(
            secret=links.links_secret(secret), user_id=user.id, purpose=purpose, ttl_seconds=ttl
        )
        url = settings.public_url.rstrip("/") + links.PATH + token
        return IssuedLink(url=url, user_name=user.name, user_email=user.email, ttl_seconds=ttl)
    finally:
        await engine.dispose()
