"""One loopback server speaking the HTTP API shapes of the push and chat services Stairway pages.

Each route answers as the real service does (status codes, JSON bodies, auth checks), so the
provider code under test is the real one and only the far end is a stand-in:

- ntfy: `POST /ntfy/` (publish as JSON), bearer token or basic auth on protected topics
- Discord: `POST /discord/api/webhooks/{id}/{token}?wait=true&with_components=true`
- Teams: `POST /teams/workflows/{id}/triggers/manual/paths/invoke?…&sig=…` (Workflows)
- Gotify: `POST /gotify/message` with `X-Gotify-Key`
- Matrix: `PUT /matrix/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}`
- Pushover: `POST /pushover/1/messages.json`
- Telegram: `POST /telegram/bot{token}/sendMessage` (Bot API)
- Mattermost: `POST /mattermost/hooks/{id}` (incoming webhook)
- Vonage: `POST /vonage-rest/sms/json` (SMS API), `POST /vonage-api/v1/calls` (Voice API, JWT)
"""

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt as pyjwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NTFY_TOKEN = "tk_ntfytesttoken0000000000000000"
GOTIFY_TOKEN = "AgotifyAppToken"
MATRIX_TOKEN = "syt_matrix_test_token"
MATRIX_ROOM = "!oncall:matrix.test"
PUSHOVER_APP_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
PUSHOVER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
TEAMS_SIG = "teams-test-signature"
TELEGRAM_TOKEN = "123456:AAtelegramTestBotToken"
TELEGRAM_CHAT = "7010001"
TELEGRAM_WEBHOOK_SECRET = "telegram-webhook-secret-token"
MATTERMOST_COMMAND_TOKEN = "mattermost-slash-command-token"
VONAGE_KEY = "a1b2c3d4"
VONAGE_SECRET = "vonageApiSecret1"
VONAGE_APPLICATION = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
VONAGE_SIGNATURE_SECRET = "vonage-signature-secret-0123456789"


@dataclass
class Call:
    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


Scripted = tuple[int, dict[str, Any] | None, dict[str, str]]


@dataclass
class Services:
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    # Per destination (topic, webhook id, app token, room, user key): answers given first.
    script: dict[str, list[Scripted]] = field(default_factory=dict)
    ntfy_protected: set[str] = field(default_factory=set)
    matrix_events: dict[str, str] = field(default_factory=dict)
    pushover_users: set[str] = field(default_factory=lambda: {PUSHOVER_USER})
    # The public half of the key the Vonage voice tests sign their JWTs with.
    vonage_public_key: str = ""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, destination: str, status: int, body: dict[str, Any] | None = None) -> None:
        """The next request for `destination` gets this answer instead of the usual one."""
        headers = {"Retry-After": "1"} if status == 429 else {}
        self.script.setdefault(destination, []).append((status, body, headers))

    def of(self, service: str) -> list[Call]:
        return [c for c in self.calls if c.service == service]

    async def wait_for(self, service: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        """Until `count` requests reached `service` (woken by each request, no polling)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.of(service)) >= count), timeout
            )
        return self.of(service)

    def about(self, service: str, marker: str) -> list[Call]:
        """The requests to `service` whose body mentions `marker` (e.g. a unique title)."""
        return [c for c in self.of(service) if marker in c.body.decode(errors="replace")]

    async def wait_about(
        self, service: str, marker: str, count: int = 1, timeout: float = 15.0
    ) -> list[Call]:
        """Until `count` requests about `marker` reached `service` (woken by each request)."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.about(service, marker)) >= count), timeout
            )
        return self.about(service, marker)

    async def _record(self, service: str, request: Request) -> Call:
        call = Call(
            service,
            request.method,
            request.url.path,
            dict(request.query_params),
            dict(request.headers),
            await request.body(),
        )
        async with self.changed:
            self.calls.append(call)
            self.changed.notify_all()
        return call

    def _scripted(self, destination: str) -> Response | None:
        answers = self.script.get(destination)
        if not answers:
            return None
        status, body, headers = answers.pop(0)
        if body is None and status < 300:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body or {}, status_code=status, headers=headers)

    # ntfy ------------------------------------------------------------------------------------

    async def _ntfy(self, request: Request) -> Response:
        call = await self._record("ntfy", request)
        try:
            doc = call.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not doc.get("topic"):
            return _ntfy_error(400, 40009, "invalid request: topic invalid")
        topic = str(doc["topic"])
        auth = call.headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(f"ada:{NTFY_TOKEN}".encode()).decode()
        if auth and auth not in (f"Bearer {NTFY_TOKEN}", basic):
            return _ntfy_error(401, 40101, "unauthorized")
        if topic in self.ntfy_protected and not auth:
            return _ntfy_error(403, 40301, "forbidden")
        if (scripted := self._scripted(topic)) is not None:
            return scripted
        actions = doc.get("actions") or []
        if len(actions) > 3 or any(a.get("action") not in ("view", "http") for a in actions):
            return _ntfy_error(400, 40018, "invalid request: actions invalid")
        now = int(time.time())
        return JSONResponse(
            {
                "id": secrets.token_hex(6),
                "time": now,
                "expires": now + 43200,
                "event": "message",
                **doc,
            }
        )

    # Discord ---------------------------------------------------------------------------------

    async def _discord(self, request: Request) -> Response:
        call = await self._record("discord", request)
        webhook_id = request.path_params["webhook_id"]
        if (scripted := self._scripted(webhook_id)) is not None:
            return scripted
        if request.path_params["token"] != f"token-{webhook_id}":
            return JSONResponse({"message": "Invalid Webhook Token", "code": 50027}, 401)
        doc = call.json()
        embeds = doc.get("embeds") or []
        if not doc.get("content") and not embeds:
            return JSONResponse({"message": "Cannot send an empty message", "code": 50006}, 400)
        if any(
            len(e.get("title", "")) > 256 or len(e.get("description", "")) > 4096 for e in embeds
        ):
            return JSONResponse({"message": "Invalid Form Body", "code": 50035}, 400)
        if call.query.get("wait") != "true":
            return Response(status_code=204)
        return JSONResponse({"id": str(1000 + len(self.calls)), "type": 0, **doc})

    # Teams (Power Automate Workflows) --------------------------------------------------------

    async def _teams(self, request: Request) -> Response:
        call = await self._record("teams", request)
        workflow = request.path_params["workflow"]
        if (scripted := self._scripted(workflow)) is not None:
            return scripted
        if call.query.get("sig") != TEAMS_SIG:
            error = {"code": "DirectApiAuthorizationRequired", "message": "signature invalid"}
            return JSONResponse({"error": error}, 401)
        doc = call.json()
        attachments = doc.get("attachments") or []
        cards = [
            a
            for a in attachments
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
            and a.get("content", {}).get("type") == "AdaptiveCard"
        ]
        if doc.get("type") != "message" or not cards:
            error = {"code": "InvalidRequestContent", "message": "no adaptive card"}
            return JSONResponse({"error": error}, 400)
        return Response(status_code=202)

    # Gotify ----------------------------------------------------------------------------------

    async def _gotify(self, request: Request) -> Response:
        call = await self._record("gotify", request)
        token = call.headers.get("x-gotify-key") or call.query.get("token", "")
        if (scripted := self._scripted(token)) is not None:
            return scripted
        if token != GOTIFY_TOKEN:
            return _gotify_error(
                401,
                "Unauthorized",
                "you need to provide a valid access token or user credentials to access this api",
            )
        doc = call.json()
        if not doc.get("message"):
            return _gotify_error(400, "Bad Request", "Field 'message' is required")
        return JSONResponse({"id": len(self.calls), "appid": 1, "date": "2026-01-01", **doc})

    # Matrix ----------------------------------------------------------------------------------

    async def _matrix(self, request: Request) -> Response:
        call = await self._record("matrix", request)
        room = request.path_params["room"]
        if (scripted := self._scripted(room)) is not None:
            return scripted
        if call.headers.get("authorization") != f"Bearer {MATRIX_TOKEN}":
            return _matrix_error(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.")
        if room != MATRIX_ROOM:
            return _matrix_error(403, "M_FORBIDDEN", "User @stairway:matrix.test not in room")
        doc = call.json()
        if doc.get("msgtype") != "m.text" or not isinstance(doc.get("body"), str):
            return _matrix_error(400, "M_BAD_JSON", "body and msgtype are required")
        txn = request.path_params["txn"]
        event = self.matrix_events.setdefault(txn, f"${secrets.token_urlsafe(12)}")
        return JSONResponse({"event_id": event})

    # Pushover --------------------------------------------------------------------------------

    async def _pushover(self, request: Request) -> Response:
        call = await self._record("pushover", request)
        form = call.form()
        request_id = secrets.token_hex(16)
        user = form.get("user", "")
        if (scripted := self._scripted(user)) is not None:
            return scripted
        if form.get("token") != PUSHOVER_APP_TOKEN:
            return _pushover_error(
                request_id, token="invalid", error="application token is invalid"
            )
        if user not in self.pushover_users:
            return _pushover_error(
                request_id,
                user="invalid",
                error="user identifier is not a valid user, group, or subscribed user key",
            )
        if not form.get("message"):
            return _pushover_error(
                request_id, message="cannot be blank", error="message cannot be blank"
            )
        answer: dict[str, Any] = {"status": 1, "request": request_id}
        if form.get("priority") == "2":
            retry, expire = int(form.get("retry", "0")), int(form.get("expire", "0"))
            if retry < 30 or not 0 < expire <= 10800:
                return _pushover_error(
                    request_id, error="retry must be at least 30, expire at most 10800"
                )
            answer["receipt"] = secrets.token_urlsafe(22)[:30]
        return JSONResponse(answer)

    # Telegram ---------------------------------------------------------------------------------

    async def _telegram(self, request: Request) -> Response:
        call = await self._record("telegram", request)
        if request.path_params["token"] != TELEGRAM_TOKEN:
            return _telegram_error(401, "Unauthorized")
        doc = call.json()
        chat = str(doc.get("chat_id", ""))
        if (scripted := self._scripted(chat)) is not None:
            return scripted
        if chat != TELEGRAM_CHAT:
            return _telegram_error(400, "Bad Request: chat not found")
        if not isinstance(doc.get("text"), str) or not doc["text"]:
            return _telegram_error(400, "Bad Request: message text is empty")
        message = {"message_id": len(self.calls), "chat": {"id": int(chat)}, "text": doc["text"]}
        return JSONResponse({"ok": True, "result": message})

    # Mattermost -------------------------------------------------------------------------------

    async def _mattermost(self, request: Request) -> Response:
        call = await self._record("mattermost", request)
        if (scripted := self._scripted(request.path_params["hook"])) is not None:
            return scripted
        try:
            doc = call.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not (doc.get("text") or doc.get("attachments")):
            error = {
                "id": "web.incoming_webhook.text.app_error",
                "message": "No text specified.",
                "status_code": 400,
            }
            return JSONResponse(error, status_code=400)
        return Response("ok", media_type="text/plain")

    # Vonage -----------------------------------------------------------------------------------

    async def _vonage_sms(self, request: Request) -> Response:
        call = await self._record("vonage-sms", request)
        form = call.form()
        to = form.get("to", "")
        if (scripted := self._scripted(to)) is not None:
            return scripted
        if (form.get("api_key"), form.get("api_secret")) != (VONAGE_KEY, VONAGE_SECRET):
            message = {"status": "4", "error-text": "Bad Credentials"}
        elif not to.isdigit() or not form.get("text") or not form.get("from"):
            message = {"status": "2", "error-text": "Missing to, from or text"}
        else:
            message = {"to": to, "message-id": secrets.token_hex(8), "status": "0"}
        return JSONResponse({"message-count": "1", "messages": [message]})

    async def _vonage_call(self, request: Request) -> Response:
        call = await self._record("vonage-voice", request)
        doc = call.json()
        to = str((doc.get("to") or [{}])[0].get("number", ""))
        if (scripted := self._scripted(to)) is not None:
            return scripted
        token = call.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = pyjwt.decode(token, self.vonage_public_key, algorithms=["RS256"])
        except pyjwt.PyJWTError:
            claims = {}
        if claims.get("application_id") != VONAGE_APPLICATION:
            error = {
                "type": "https://developer.nexmo.com/api-errors#unauthorized",
                "title": "Unauthorized",
                "detail": "You did not provide correct credentials.",
            }
            return JSONResponse(error, status_code=401)
        if not to.isdigit() or not doc.get("ncco"):
            error = {
                "type": "https://developer.nexmo.com/api-errors#bad-request",
                "title": "Bad Request",
                "detail": "to and ncco are required",
            }
            return JSONResponse(error, status_code=400)
        answer = {
            "uuid": secrets.token_hex(16),
            "status": "started",
            "direction": "outbound",
            "conversation_uuid": "CON-" + secrets.token_hex(8),
        }
        return JSONResponse(answer, status_code=201)

    def app(self) -> Starlette:
        routes: list[tuple[str, Callable[[Request], Any], list[str]]] = [
            ("/ntfy/", self._ntfy, ["POST"]),
            ("/discord/api/webhooks/{webhook_id}/{token}", self._discord, ["POST"]),
            (
                "/teams/workflows/{workflow}/triggers/manual/paths/invoke",
                self._teams,
                ["POST"],
            ),
            ("/gotify/message", self._gotify, ["POST"]),
            (
                "/matrix/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
                self._matrix,
                ["PUT"],
            ),
            ("/pushover/1/messages.json", self._pushover, ["POST"]),
            ("/telegram/bot{token}/sendMessage", self._telegram, ["POST"]),
            ("/mattermost/hooks/{hook}", self._mattermost, ["POST"]),
            ("/vonage-rest/sms/json", self._vonage_sms, ["POST"]),
            ("/vonage-api/v1/calls", self._vonage_call, ["POST"]),
        ]
        return Starlette(routes=[Route(p, h, methods=m) for p, h, m in routes])

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task


def _ntfy_error(status: int, code: int, error: str) -> JSONResponse:
    return JSONResponse({"code": code, "http": status, "error": error}, status)


def _gotify_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "errorCode": status, "errorDescription": description}, status
    )


def _telegram_error(status: int, description: str, **extra: Any) -> JSONResponse:
    body = {"ok": False, "error_code": status, "description": description, **extra}
    return JSONResponse(body, status_code=status)


def _matrix_error(status: int, errcode: str, error: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "error": error}, status)


def _pushover_error(request_id: str, *, error: str, **fields: str) -> JSONResponse:
    return JSONResponse({**fields, "errors": [error], "status": 0, "request": request_id}, 400)
