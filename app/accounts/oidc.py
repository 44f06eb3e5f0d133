"""OpenID Connect sign-in: authorization code with PKCE (authlib), ID token checked (joserfc).

The browser keeps the flow's state, nonce and PKCE verifier in a short-lived signed cookie;
the provider's answer must match them. The person is matched to a Stairway user by verified
email; a user is created on first sign-in only when auto-provisioning is on.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.signin import find_user
from app.audit_log import set_actor
from app.config import Settings
from app.models import User
from app.security import make_token, read_token
from app.users.schemas import Role, UserCreate
from app.users.service import create_user

FLOW_TTL_SECONDS = 600
CALLBACK_PATH = "/sign-in/sso/callback"
_ROLE_ORDER = {"observer": 1, "responder": 2, "admin": 3}


class SsoRefused(Exception):
    """The provider's answer does not let this person in; the message says why."""

    def __init__(self, message: str, *, email: str = "") -> None:
        super().__init__(message)
        self.email = email


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks: dict[str, Any]


async def discover(client: httpx.AsyncClient, issuer: str) -> Provider:
    """The provider's endpoints and signing keys, from its discovery document."""
    base = issuer.rstrip("/")
    config = (await client.get(f"{base}/.well-known/openid-configuration")).raise_for_status()
    doc = config.json()
    if doc.get("issuer", "").rstrip("/") != base:
        raise SsoRefused("the provider's discovery document names another issuer")
    jwks = (await client.get(doc["jwks_uri"])).raise_for_status().json()
    return Provider(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks=jwks,
    )


def _client(settings: Settings, timeout_seconds: float = 10.0) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        scope=settings.oidc_scopes,
        redirect_uri=settings.public_url.rstrip("/") + CALLBACK_PATH,
        code_challenge_method="S256",
        timeout=timeout_seconds,
    )


def begin(
    settings: Settings, provider: Provider, *, secret: str, next_path: str
) -> tuple[str, str]:
    """The provider URL to send the browser to, and the flow cookie to set."""
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    client = _client(settings)
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
    )
    flow = {
        "s": state,
        "n": nonce,
        "v": verifier,
        "next": next_path,
        "exp": int(time.time()) + FLOW_TTL_SECONDS,
    }
    return url, make_token(secret, flow)


@dataclass(frozen=True, slots=True)
class Identity:
    email: str
    name: str
    claims: dict[str, Any]
    next_path: str


async def finish(
    settings: Settings,
    provider: Provider,
    *,
    secret: str,
    flow_cookie: str,
    params: dict[str, str],
) -> Identity:
    """Exchange the code for tokens and check the ID token; the verified identity."""
    flow = read_token(secret, flow_cookie, now=time.time()) if flow_cookie else None
    if flow is None:
        raise SsoRefused("the sign-in took too long or started in another browser; try again")
    if "error" in params:
        raise SsoRefused(
            f"the provider refused: {params.get('error_description') or params['error']}"
        )
    if not secrets.compare_digest(str(flow["s"]), params.get("state", "")):
        raise SsoRefused("the provider's answer does not belong to this sign-in; try again")
    async with _client(settings) as client:
        token = await client.fetch_token(
            provider.token_endpoint,
            grant_type="authorization_code",
            code=params.get("code", ""),
            code_verifier=flow["v"],
        )
    claims = _id_token_claims(settings, provider, str(token.get("id_token", "")), str(flow["n"]))
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        raise SsoRefused("the provider did not vouch for an email address (email_verified)")
    name = str(claims.get("name") or email.split("@")[0])
    return Identity(email=email, name=name, claims=claims, next_path=str(flow.get("next") or ""))


def _id_token_claims(
    settings: Settings, provider: Provider, id_token: str, nonce: str
) -> dict[str, Any]:
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(provider.jwks))  # type: ignore[arg-type]
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": settings.oidc_client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise SsoRefused(f"the provider's ID token is not valid ({exc})") from exc
    return dict(decoded.claims)


def _mapped_role(settings: Settings, claims: dict[str, Any]) -> str:
    """The highest role a value of the role claim maps to, else the default role."""
    values = claims.get(settings.oidc_role_claim)
    values = values if isinstance(values, list) else [values]
    roles = [
        settings.oidc_role_map[v]
        for v in values
        if isinstance(v, str) and v in settings.oidc_role_map
    ]
    roles = [r for r in roles if r in _ROLE_ORDER]
    return max(roles, key=_ROLE_ORDER.__getitem__) if roles else settings.oidc_default_role


async def user_for(*, session: AsyncSession, settings: Settings, identity: Identity) -> User:
    """The Stairway user this identity signs in as (created when auto-provisioning is on)."""
    domain = identity.email.rpartition("@")[2]
    allowed = [d.lower().lstrip("@") for d in settings.oidc_allowed_domains]
    if allowed and domain not in allowed:
        raise SsoRefused(f"accounts of {domain} may not sign in here", email=identity.email)
    user = await find_user(session=session, email=identity.email)
    if user is not None:
        await _apply_role_map(session, settings, user, identity.claims)
        return user
    if not settings.oidc_auto_provision:
        raise SsoRefused(
            f"no Stairway user has the email {identity.email}; ask an admin", email=identity.email
        )
    role = Role(_mapped_role(settings, identity.claims))
    data = UserCreate(name=identity.name[:200], email=identity.email, role=role)
    return await create_user(session=session, data=data)


async def _apply_role_map(
    session: AsyncSession, settings: Settings, user: User, claims: dict[str, Any]
) -> None:
    """At every sign-in the provider's role claim decides the role, when a mapping is set.

    A token without the claim at all changes nothing (a provider that does not send it must not
    demote everyone); a claim with no mapped value gives the default role.
    """
    if not settings.oidc_role_map or settings.oidc_role_claim not in claims:
        return
    role = _mapped_role(settings, claims)
    if role != user.role:
        set_actor(session, {"type": "system", "name": "single sign-on"})
        user.role = role
        await session.flush()
