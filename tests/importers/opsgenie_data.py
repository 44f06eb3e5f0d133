"""An Opsgenie account as its REST API shows it (shapes from Opsgenie's API reference).

"SRE" is in Europe/Berlin, whose clocks go forward on 2026-03-29, with two rotations on call at
once: "Weekly" (Erin, Frank; Mondays 09:00, on call Monday 09:00 to Friday 17:00) and "Nights"
(Gina, Hank; daily at 18:00, on call 18:00 to 08:00), and an override for Hank on "Weekly".
FINAL_TIMELINE is Opsgenie's own final timeline for the week around the change, per rotation,
worked out from those rules by hand.
"""

from typing import Any

from tests.importers.vendor import Query, Route, page_of

NOW = "2026-03-20T12:00:00Z"
PROMETHEUS_KEY = "8a2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
PAGE = 2


def _user(uid: str, name: str, username: str, role: str, zone: str) -> Any:
    return {
        "id": uid,
        "username": username,
        "fullName": name,
        "role": {"id": role, "name": role},
        "timeZone": zone,
        "locale": "en_US",
        "blocked": False,
        "verified": True,
    }


USERS = [
    _user("u-erin", "Erin Evans", " Erin@Example.com", "Admin", "Europe/Berlin"),
    _user("u-frank", "Frank Fox", "frank@example.com", "User", "Europe/Berlin"),
    _user("u-gina", "Gina Gray", "gina@example.com", "User", "Europe/Lisbon"),
    _user("u-hank", "Hank Hill", "hank@example.com", "User", "America/Chicago"),
    _user("u-ivan", "Ivan Ito", "ivan@example.com", "Owner", "Asia/Tokyo"),
    _user("u-jill", "Jill Jones", "jill@example.com", "Stakeholder", "Europe/Berlin"),
]
CONTACTS = {
    "u-erin": [
        {"id": "c1", "method": "email", "to": "erin@example.com", "status": {"enabled": True}},
        {"id": "c2", "method": "sms", "to": "49-15112345678", "status": {"enabled": True}},
        {"id": "c3", "method": "mobile", "to": "Erin's phone", "status": {"enabled": True}},
    ],
}
RULES = {
    "u-erin": [
        {"id": "r1", "name": "New Alert", "actionType": "create-alert", "order": 1, "enabled": True}
    ]
}
STEPS = {
    ("u-erin", "r1"): [
        {
            "id": "s1",
            "contact": {"method": "email", "to": "erin@example.com"},
            "sendAfter": {"timeAmount": 0, "timeUnit": "minutes"},
            "enabled": True,
        },
        {
            "id": "s2",
            "contact": {"method": "sms", "to": "49-15112345678"},
            "sendAfter": {"timeAmount": 5, "timeUnit": "minutes"},
            "enabled": True,
        },
        {
            "id": "s3",
            "contact": {"method": "mobile", "to": "Erin's phone"},
            "sendAfter": {"timeAmount": 1, "timeUnit": "minutes"},
            "enabled": True,
        },
    ]
}
WEEKLY = {
    "id": "rot-weekly",
    "name": "Weekly",
    "startDate": "2026-03-02T08:00:00Z",
    "type": "weekly",
    "length": 1,
    "participants": [
        {"type": "user", "id": "u-erin", "username": "erin@example.com"},
        {"type": "user", "id": "u-frank", "username": "frank@example.com"},
    ],
    "timeRestriction": {
        "type": "weekday-and-time-of-day",
        "restrictions": [
            {
                "startDay": "monday",
                "startHour": 9,
                "startMin": 0,
                "endDay": "friday",
                "endHour": 17,
                "endMin": 0,
            }
        ],
    },
}
NIGHTS = {
    "id": "rot-nights",
    "name": "Nights",
    "startDate": "2026-03-25T17:00:00Z",
    "type": "daily",
    "length": 1,
    "participants": [
        {"type": "user", "id": "u-gina", "username": "gina@example.com"},
        {"type": "user", "id": "u-hank", "username": "hank@example.com"},
    ],
    "timeRestriction": {
        "type": "time-of-day",
        "restriction": {"startHour": 18, "startMin": 0, "endHour": 8, "endMin": 0},
    },
}
SCHEDULE = {
    "id": "sch-sre",
    "name": "SRE",
    "description": "Weekdays by week, nights by day",
    "timezone": "Europe/Berlin",
    "enabled": True,
    "ownerTeam": {"id": "team-sre", "name": "SRE"},
    "rotations": [WEEKLY, NIGHTS],
}
OVERRIDES = [
    {
        "alias": "dentist",
        "user": {"type": "user", "id": "u-hank", "username": "hank@example.com"},
        "startDate": "2026-03-31T08:00:00Z",
        "endDate": "2026-03-31T12:00:00Z",
        "rotations": [{"id": "rot-weekly", "name": "Weekly"}],
    },
]
# Per rotation: (username, start, end), 2026-03-26 00:00 to 2026-04-01 00:00 Berlin time.
FINAL_TIMELINE = {
    "Weekly": [
        ("frank@example.com", "2026-03-25T23:00:00Z", "2026-03-27T16:00:00Z"),
        ("erin@example.com", "2026-03-30T07:00:00Z", "2026-03-31T08:00:00Z"),  # 09:00 CEST
        ("hank@example.com", "2026-03-31T08:00:00Z", "2026-03-31T12:00:00Z"),
        ("erin@example.com", "2026-03-31T12:00:00Z", "2026-03-31T22:00:00Z"),
    ],
    "Nights": [
        ("gina@example.com", "2026-03-25T23:00:00Z", "2026-03-26T07:00:00Z"),
        ("hank@example.com", "2026-03-26T17:00:00Z", "2026-03-27T07:00:00Z"),
        ("gina@example.com", "2026-03-27T17:00:00Z", "2026-03-28T07:00:00Z"),
        ("hank@example.com", "2026-03-28T17:00:00Z", "2026-03-29T06:00:00Z"),  # 13 h
        ("gina@example.com", "2026-03-29T16:00:00Z", "2026-03-30T06:00:00Z"),
        ("hank@example.com", "2026-03-30T16:00:00Z", "2026-03-31T06:00:00Z"),
        ("gina@example.com", "2026-03-31T16:00:00Z", "2026-03-31T22:00:00Z"),
    ],
}
ESCALATION = {
    "id": "esc-sre",
    "name": "SRE escalation",
    "description": "On call, then Jill",
    "ownerTeam": {"id": "team-sre", "name": "SRE"},
    "rules": [
        {
            "condition": "if-not-acked",
            "notifyType": "default",
            "delay": {"timeAmount": 0, "timeUnit": "minutes"},
            "recipient": {"type": "schedule", "id": "sch-sre", "name": "SRE"},
        },
        {
            "condition": "if-not-acked",
            "notifyType": "default",
            "delay": {"timeAmount": 0, "timeUnit": "minutes"},
            "recipient": {"type": "user", "id": "u-ivan", "username": "ivan@example.com"},
        },
        {
            "condition": "if-not-closed",
            "notifyType": "default",
            "delay": {"timeAmount": 10, "timeUnit": "minutes"},
            "recipient": {"type": "user", "id": "u-jill", "username": "jill@example.com"},
        },
        {
            "condition": "if-not-closed",
            "notifyType": "default",
            "delay": {"timeAmount": 10, "timeUnit": "minutes"},
            "recipient": {"type": "team", "id": "team-db", "name": "Databases"},
        },
    ],
    "repeat": {
        "waitInterval": 5,
        "count": 2,
        "resetRecipientStates": False,
        "closeAlertAfterAll": False,
    },
}
INTEGRATIONS = [
    {
        "id": "int-prom",
        "name": "Prometheus",
        "enabled": True,
        "type": "Prometheus",
        "ownerTeam": {"id": "team-sre", "name": "SRE"},
        "apiKey": PROMETHEUS_KEY,
    },
    {
        "id": "int-mail",
        "name": "Email",
        "enabled": True,
        "type": "Email",
        "ownerTeam": {"id": "team-web", "name": "Web"},
        "emailAddress": "web@acme.app.opsgenie.net",
    },
]
TEAMS = [
    {"id": "team-sre", "name": "SRE", "description": "Site reliability"},
    {"id": "team-web", "name": "Web", "description": ""},
    {"id": "team-db", "name": "Databases", "description": "Postgres and Redis"},
]


def _member(uid: str, username: str, role: str) -> Any:
    return {"user": {"id": uid, "username": username}, "role": role}


# GET /v2/teams/{id} (the list has no members).
TEAM_MEMBERS = {
    "team-sre": [
        _member("u-erin", "erin@example.com", "admin"),
        _member("u-frank", "frank@example.com", "user"),
        _member("u-gina", "gina@example.com", "user"),
        _member("u-hank", "hank@example.com", "Night Owl"),
    ],
    "team-web": [_member("u-ivan", "ivan@example.com", "admin")],
    "team-db": [
        _member("u-jill", "jill@example.com", "admin"),
        _member("u-frank", "frank@example.com", "user"),
        _member("u-gone", "gone@example.com", "user"),
    ],
}
ROUTING = {
    "team-sre": [
        {
            "id": "rr1",
            "name": "Database alerts",
            "isDefault": False,
            "order": 0,
            "criteria": {
                "type": "match-all-conditions",
                "conditions": [{"field": "tags", "operation": "contains", "expectedValue": "db"}],
            },
            "notify": {"type": "escalation", "id": "esc-sre", "name": "SRE escalation"},
        },
        {
            "id": "rr2",
            "name": "Default Routing Rule",
            "isDefault": True,
            "order": 1,
            "criteria": {"type": "match-all"},
            "notify": {"type": "escalation", "id": "esc-sre", "name": "SRE escalation"},
        },
    ],
    "team-web": [
        {
            "id": "rr3",
            "name": "Default Routing Rule",
            "isDefault": True,
            "order": 0,
            "criteria": {"type": "match-all"},
            "notify": {"type": "none"},
        },
    ],
}
HEARTBEATS = [
    {
        "name": "nightly-backup",
        "description": "",
        "interval": 1,
        "intervalUnit": "days",
        "enabled": True,
        "ownerTeam": {"id": "team-sre", "name": "SRE"},
    },
    {
        "name": "web-cron",
        "interval": 10,
        "intervalUnit": "minutes",
        "enabled": True,
        "ownerTeam": {"id": "team-web", "name": "Web"},
    },
]
MAINTENANCE = [
    {
        "id": "m1",
        "status": "planned",
        "description": "Prometheus upgrade",
        "time": {
            "type": "schedule",
            "startDate": "2026-04-02T20:00:00Z",
            "endDate": "2026-04-02T22:00:00Z",
        },
        "rules": [{"state": "disabled", "entity": {"id": "int-prom", "type": "integration"}}],
    },
]


def _paged(items: list[Any], path: str) -> Route:
    def route(base: str, query: Query) -> Any:
        page, offset, more = page_of(items, query, size=PAGE)
        paging = {"first": f"{base}{path}?limit={PAGE}&offset=0"}
        if more:
            paging["next"] = f"{base}{path}?limit={PAGE}&offset={offset + PAGE}"
        return {"data": page, "paging": paging, "took": 0.01, "requestId": "r"}

    return route


def _data(value: Any) -> Route:
    return lambda base, query: {"data": value, "took": 0.01, "requestId": "r"}


def routes() -> dict[str, Route]:
    """Opsgenie's REST API paths the importer reads."""
    table: dict[str, Route] = {
        "/v2/users": _paged(USERS, "/v2/users"),
        "/v2/schedules": _paged([SCHEDULE], "/v2/schedules"),
        "/v2/schedules/sch-sre/overrides": _data(OVERRIDES),
        "/v2/escalations": _paged([ESCALATION], "/v2/escalations"),
        "/v2/integrations": _paged(
            [{k: i[k] for k in ("id", "name", "type")} for i in INTEGRATIONS], "/v2/integrations"
        ),
        "/v2/teams": _paged(TEAMS, "/v2/teams"),
        "/v2/heartbeats": _data({"heartbeats": HEARTBEATS}),
        "/v1/maintenance": _data(MAINTENANCE),
    }
    for user in USERS:
        uid = user["id"]
        table[f"/v2/users/{uid}/contacts"] = _data(CONTACTS.get(uid, []))
        table[f"/v2/users/{uid}/notification-rules"] = _data(RULES.get(uid, []))
    for (uid, rid), steps in STEPS.items():
        table[f"/v2/users/{uid}/notification-rules/{rid}/steps"] = _data(steps)
    for integration in INTEGRATIONS:
        table[f"/v2/integrations/{integration['id']}"] = _data(integration)
    for team in TEAMS:
        table[f"/v2/teams/{team['id']}/routing-rules"] = _data(ROUTING.get(team["id"], []))
        detail = {**team, "members": TEAM_MEMBERS[team["id"]], "links": {"web": "", "api": ""}}
        table[f"/v2/teams/{team['id']}"] = _data(detail)
    return table
