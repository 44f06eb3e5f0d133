"""How the Slack, Twilio and Pushover callbacks appear in /openapi.json: form-encoded bodies.

The handlers read the raw body (the signature covers it byte for byte), so FastAPI cannot
infer these bodies; they are described here instead.
"""

from typing import Any


def _form(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": schema}},
    }


def _header(name: str, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": text,
    }


SLACK_ACTIONS: dict[str, Any] = {
    "summary": "Slack interactivity: Acknowledge/Resolve buttons",
    "description": "Set as the Slack app's Interactivity Request URL. Verified with "
    "STAIRWAY_SLACK_SIGNING_SECRET; each signed request acts once; the clicking Slack member "
    "acts as the Stairway user with that `slack_user_id`. The answer to the person goes "
    "through Slack's `response_url`.",
    "openapi_extra": {
        "requestBody": _form(
            {"payload": "Slack's interaction payload (JSON text, type `block_actions`)"},
            ["payload"],
        ),
        "parameters": [
            _header("X-Slack-Signature", "v0=<hex hmac-sha256 of v0:<timestamp>:<body>>"),
            _header("X-Slack-Request-Timestamp", "Unix seconds; at most 5 minutes old"),
        ],
    },
    "responses": {401: {"description": "Bad or stale signature, or a replayed request"}},
}

TWILIO_SMS: dict[str, Any] = {
    "summary": "Twilio inbound SMS: ack 42, resolve 42, ack all",
    "description": "Set as the phone number's messaging webhook (HTTP POST). Verified with "
    "Twilio's X-Twilio-Signature over STAIRWAY_PUBLIC_URL + path; the sender acts as the "
    "user whose SMS contact method has that number. Answers TwiML with the reply.",
    "openapi_extra": {
        "requestBody": _form(
            {
                "From": "The sender's number (E.164)",
                "Body": "The message: `ack 42`, `resolve 42` or `ack all`",
                "MessageSid": "Twilio's message id (each message acts once)",
                "To": "The Stairway number",
            },
            ["From", "Body", "MessageSid"],
        ),
        "parameters": [_header("X-Twilio-Signature", "Twilio's request signature")],
    },
    "responses": {
        200: {"content": {"text/xml": {}}, "description": "TwiML, with the reply SMS"},
        403: {"description": "Bad signature"},
    },
}

PUSHOVER_ACK: dict[str, Any] = {
    "summary": "Pushover emergency acknowledgement: acknowledging in the app acknowledges here",
    "description": "Each emergency-priority page asks Pushover to call this URL back when it is "
    "acknowledged; `token` is the page's signed acknowledge token (for the paged user, expiring "
    "with the page's links). The acknowledging Pushover user must be the paged user's own "
    "Pushover key and the user must still be a responder or admin; each token acts once.",
    "openapi_extra": {
        "requestBody": _form(
            {
                "receipt": "Pushover's receipt of the emergency notification",
                "acknowledged": "1 when acknowledged",
                "acknowledged_at": "Unix seconds",
                "acknowledged_by": "The acknowledging Pushover user's key",
                "acknowledged_by_device": "The device it was acknowledged on",
            },
            ["acknowledged", "acknowledged_by"],
        ),
    },
    "responses": {
        403: {"description": "Not a token Stairway issued, expired, or not the paged user's key"},
        422: {"description": "`acknowledged` is not 1"},
    },
}
