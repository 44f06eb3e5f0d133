"""Slack interactivity: the Acknowledge / Resolve buttons of a Slack page act as the clicker."""

import hashlib
import hmac
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import jsonsafe
from app.db import SessionDep
from app.errors import Unauthorized, field_error
from app.models import User, utcnow
from app.queue import JobSpec, after_commit
from app.responders import docs
from app.responders.actions import ACTIONS, act
from app.responders.nonces import use_once
from app.teams.access import others_allowed

router = APIRouter(prefix="/integrations/slack", tags=["responding"])

TOLERANCE_SECONDS = 300
SLACK_REPLY_JOB = "slack_reply"


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=<hex hmac-sha256(signing secret, "v0:<timestamp>:<raw body>")>`, as Slack signs."""
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v0={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float) -> bool:
    """Constant-time check of X-Slack-Signature; stale timestamps (replays) fail."""
    if not secret:
        return False
    try:
        # Whole seconds as integers: a timestamp of any length compares without overflow.
        stale = abs(int(now) - int(timestamp)) > TOLERANCE_SECONDS
    except ValueError:
        return False
    expected = slack_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode()) and not stale


def reply_job(response_url: str, text: str, *, in_channel: bool) -> JobSpec:
    """Answer the click through Slack's response_url, from the worker (after commit)."""
    return JobSpec(SLACK_REPLY_JOB, (response_url, text, in_channel), f"slack-reply:{uuid.uuid4()}")


async def send_reply(
    client: httpx.AsyncClient, response_url: str, text: str, in_channel: bool
) -> None:
    """The reply job's work: post the message (Slack keeps response_url valid for 30 minutes)."""
    body = {
        "response_type": "in_channel" if in_channel else "ephemeral",
        "replace_original": False,
        "text": text,
    }
    response = await client.post(response_url, json=body)
    response.raise_for_status()  # arq retries the job


async def _stairway_user(session: AsyncSession, slack_user: dict[str, Any]) -> User | None:
    """The user linked by Slack member id, else by the email Slack sent (if any)."""
    slack_id = str(slack_user.get("id", ""))
    if slack_id:
        user = await session.scalar(select(User).where(col(User.slack_user_id) == slack_id))
        if user is not None:
            return user
    email = str(slack_user.get("email", "")).strip().lower()
    if not email:
        return None
    return await session.scalar(select(User).where(func.lower(col(User.email)) == email))


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = jsonsafe.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise field_error("payload", "expected a form field holding Slack's JSON") from exc
    if not isinstance(payload, dict):
        raise field_error("payload", "must be a JSON object")
    return payload


def _button(payload: dict[str, Any]) -> tuple[str, uuid.UUID] | None:
    actions = payload.get("actions")
    for item in actions if isinstance(actions, list) else []:
        if not isinstance(item, dict):
            continue
        action, _, incident = str(item.get("value", "")).partition(":")
        if action in ACTIONS:
            try:
                return action, uuid.UUID(incident)
            except ValueError:
                return None
    return None


@router.post("/actions", **docs.SLACK_ACTIONS)
async def slack_actions(request: Request, session: SessionDep) -> dict[str, Any]:
    """Verify, map the Slack user, act; the answer to the user goes through response_url."""
    body = await request.body()
    secret = request.app.state.settings.slack_signing_secret.get_secret_value()
    signature = request.headers.get("x-slack-signature", "")
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    if not verify(secret, timestamp, body, signature, now=time.time()):
        raise Unauthorized("invalid or stale Slack signature")
    now = utcnow()
    # One use per signed request: a captured request replayed within the window does nothing.
    key = "slack:" + hashlib.sha256(signature.encode()).hexdigest()
    if not await use_once(session, key, expires_at=now + timedelta(seconds=2 * TOLERANCE_SECONDS)):
        raise Unauthorized("this Slack request was processed already")
    payload = _parse(body)
    response_url = str(payload.get("response_url", ""))
    button = _button(payload)
    if payload.get("type") != "block_actions" or button is None:
        return {"ok": True, "handled": False}
    slack_user = payload.get("user")
    user = await _stairway_user(session, slack_user if isinstance(slack_user, dict) else {})
    if user is None:
        text = (
            "Your Slack account is not linked to a Stairway responder; nothing was changed. "
            "Ask an admin to set your Slack member id on your Stairway user."
        )
        if response_url:
            after_commit(session, reply_job(response_url, text, in_channel=False))
        return {"ok": False, "text": text}
    action, incident_id = button
    # The role is checked by `act`, under the incident's lock: as it is at this moment.
    result = await act(
        session=session,
        incident_id=incident_id,
        action=action,
        user_id=user.id,
        via="slack",
        now=now,
        others_allowed=others_allowed(request),
    )
    text = f"{user.name}: {result.message}" if result.changed else result.message
    if response_url:
        after_commit(session, reply_job(response_url, text, in_channel=result.changed))
    return {"ok": result.changed, "text": text}
