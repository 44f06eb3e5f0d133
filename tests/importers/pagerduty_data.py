"""A PagerDuty account as its REST API v2 shows it (shapes from PagerDuty's API reference).

"Payments primary" is in America/New_York, whose clocks go forward on 2026-03-08: a weekly day
layer (Alice, Bob; Mondays 09:00) under a daily night layer (Carol, Dave; 18:00 for 14 h), and an
override for Bob. FINAL_ENTRIES is PagerDuty's own rendered final schedule for the week around
the change, worked out from those rules by hand.
"""

from typing import Any

from tests.importers.vendor import Query, Route, page_of

NOW = "2026-03-01T12:00:00Z"
DATADOG_KEY = "a3f1c9e07b2d4e5f8a6b1c2d3e4f5a6b"
V1_KEY = "0f9e8d7c6b5a49382716051a2b3c4d5e"
PAGE = 2  # PagerDuty would return up to 100; 2 makes the importer follow pagination


def _user(
    uid: str,
    name: str,
    email: str,
    role: str,
    zone: str,
    methods: tuple[list[Any], list[tuple[int, str, str, str]]],
) -> Any:
    """`methods` is (contact methods, notification rules as (delay, method id, type, urgency))."""
    rules = [
        {
            "id": f"{uid}R{i}",
            "type": "assignment_notification_rule",
            "start_delay_in_minutes": delay,
            "contact_method": {"id": method_id, "type": kind},
            "urgency": urgency,
        }
        for i, (delay, method_id, kind, urgency) in enumerate(methods[1])
    ]
    return {
        "id": uid,
        "type": "user",
        "name": name,
        "email": email,
        "time_zone": zone,
        "role": role,
        "contact_methods": methods[0],
        "notification_rules": rules,
        "teams": [{"id": "PTEAM1", "type": "team_reference", "summary": "Payments"}],
    }


def _email(cid: str, address: str) -> Any:
    return {"id": cid, "type": "email_contact_method", "label": "Work", "address": address}


def _phone(cid: str, kind: str, number: str) -> Any:
    return {"id": cid, "type": kind, "label": "Mobile", "address": number, "country_code": 1}


USERS = [
    _user(
        "PALICE",
        "Alice Adams",
        "  Alice.Adams@Example.com ",
        "admin",
        "America/New_York",
        (
            [
                _email("PC1", "alice.adams@example.com"),
                _phone("PC2", "sms_contact_method", "2125550101"),
                _phone("PC3", "phone_contact_method", "2125550101"),
            ],
            [
                (0, "PC1", "email_contact_method", "high"),
                (0, "PC1", "email_contact_method", "low"),
                (2, "PC2", "sms_contact_method", "high"),
                (5, "PC3", "phone_contact_method", "high"),
            ],
        ),
    ),
    _user(
        "PBOB",
        "Bob Brown",
        "bob@example.com",
        "user",
        "Europe/London",
        (
            [
                _email("PC4", "bob@example.com"),
                {
                    "id": "PC5",
                    "type": "push_notification_contact_method",
                    "label": "iPhone",
                    "address": "device-token",
                    "device_type": "ios",
                },
            ],
            [
                (0, "PC4", "email_contact_method", "high"),
                (0, "PC5", "push_notification_contact_method", "high"),
            ],
        ),
    ),
    _user(
        "PCAROL",
        "Carol Chen",
        "carol@example.com",
        "limited_user",
        "America/Chicago",
        ([_email("PC6", "carol@example.com")], [(1, "PC6", "email_contact_method", "low")]),
    ),
    _user(
        "PDAVE",
        "Dave Diaz",
        "dave@example.com",
        "observer",
        "Not/AZone",
        ([_email("PC7", "dave@example.com")], []),
    ),
    _user("PDUP", "Alice (old account)", "alice.adams@example.com", "user", "UTC", ([], [])),
]

LAYER_DAYS = {
    "id": "PLAYER1",
    "name": "Days",
    "start": "2026-01-05T09:00:00-05:00",
    "end": None,
    "rotation_virtual_start": "2026-01-05T09:00:00-05:00",
    "rotation_turn_length_seconds": 604800,
    "users": [
        {"user": {"id": "PALICE", "type": "user_reference"}},
        {"user": {"id": "PBOB", "type": "user_reference"}},
    ],
    "restrictions": [],
}
LAYER_NIGHTS = {
    "id": "PLAYER2",
    "name": "Nights",
    "start": "2026-02-11T00:00:00-05:00",
    "end": None,
    "rotation_virtual_start": "2026-02-01T18:00:00-05:00",
    "rotation_turn_length_seconds": 86400,
    "users": [
        {"user": {"id": "PCAROL", "type": "user_reference"}},
        {"user": {"id": "PDAVE", "type": "user_reference"}},
    ],
    "restrictions": [
        {"type": "daily_restriction", "start_time_of_day": "18:00:00", "duration_seconds": 50400}
    ],
}
LAYER_OLD = {
    "id": "PLAYER0",
    "name": "Old weekends",
    "start": "2025-06-07T00:00:00-04:00",
    "end": "2025-12-31T00:00:00-05:00",
    "rotation_virtual_start": "2025-06-07T00:00:00-04:00",
    "rotation_turn_length_seconds": 604800,
    "users": [{"user": {"id": "PDAVE", "type": "user_reference"}}],
    "restrictions": [
        {
            "type": "weekly_restriction",
            "start_time_of_day": "00:00:00",
            "duration_seconds": 172800,
            "start_day_of_week": 6,
        }
    ],
}
OVERRIDES = [
    {
        "id": "PO1",
        "start": "2026-03-09T12:00:00-04:00",
        "end": "2026-03-09T20:00:00-04:00",
        "user": {"id": "PBOB", "type": "user_reference", "summary": "Bob Brown"},
    },
    {
        "id": "PO2",
        "start": "2026-04-01T09:00:00-04:00",
        "end": "2026-04-02T09:00:00-04:00",
        "user": {"id": "PGONE", "type": "user_reference", "summary": "Deleted user"},
    },
]
# (user id, start, end) as PagerDuty renders the final schedule, 2026-03-05 to 2026-03-12.
FINAL_ENTRIES = [
    ("PDAVE", "2026-03-05T05:00:00Z", "2026-03-05T13:00:00Z"),
    ("PALICE", "2026-03-05T13:00:00Z", "2026-03-05T23:00:00Z"),
    ("PCAROL", "2026-03-05T23:00:00Z", "2026-03-06T13:00:00Z"),
    ("PALICE", "2026-03-06T13:00:00Z", "2026-03-06T23:00:00Z"),
    ("PDAVE", "2026-03-06T23:00:00Z", "2026-03-07T13:00:00Z"),
    ("PALICE", "2026-03-07T13:00:00Z", "2026-03-07T23:00:00Z"),
    ("PCAROL", "2026-03-07T23:00:00Z", "2026-03-08T12:00:00Z"),  # 08:00 EDT: 13 h that night
    ("PALICE", "2026-03-08T12:00:00Z", "2026-03-08T22:00:00Z"),
    ("PDAVE", "2026-03-08T22:00:00Z", "2026-03-09T12:00:00Z"),
    ("PALICE", "2026-03-09T12:00:00Z", "2026-03-09T13:00:00Z"),
    ("PBOB", "2026-03-09T13:00:00Z", "2026-03-10T00:00:00Z"),  # weekly hand-off, then override
    ("PCAROL", "2026-03-10T00:00:00Z", "2026-03-10T12:00:00Z"),
    ("PBOB", "2026-03-10T12:00:00Z", "2026-03-10T22:00:00Z"),
    ("PDAVE", "2026-03-10T22:00:00Z", "2026-03-11T12:00:00Z"),
    ("PBOB", "2026-03-11T12:00:00Z", "2026-03-11T22:00:00Z"),
    ("PCAROL", "2026-03-11T22:00:00Z", "2026-03-12T04:00:00Z"),
]
SCHEDULE = {
    "id": "PSCHED1",
    "type": "schedule",
    "name": "Payments primary",
    "time_zone": "America/New_York",
    "description": "Days by week, nights by day",
    # Newest (highest) layer first, as PagerDuty lists them.
    "schedule_layers": [LAYER_NIGHTS, LAYER_DAYS, LAYER_OLD],
    "final_schedule": {
        "name": "Final Schedule",
        "rendered_schedule_entries": [
            {"user": {"id": uid, "type": "user_reference"}, "start": start, "end": end}
            for uid, start, end in FINAL_ENTRIES
        ],
    },
    "teams": [{"id": "PTEAM1", "type": "team_reference"}],
}
POLICIES = [
    {
        "id": "PEP1",
        "type": "escalation_policy",
        "name": "Payments",
        "description": "Primary, then Dave",
        "teams": [{"id": "PTEAM1", "type": "team_reference"}],
        "num_loops": 2,
        "on_call_handoff_notifications": "if_has_services",
        "escalation_rules": [
            {
                "id": "PER1",
                "escalation_delay_in_minutes": 15,
                "targets": [
                    {"id": "PSCHED1", "type": "schedule_reference", "summary": "Payments primary"},
                    {"id": "PCAROL", "type": "user_reference", "summary": "Carol Chen"},
                ],
            },
            {
                "id": "PER2",
                "escalation_delay_in_minutes": 30,
                "targets": [
                    {"id": "PDAVE", "type": "user_reference", "summary": "Dave Diaz"},
                    {"id": "PGONE", "type": "user_reference", "summary": "Deleted user"},
                ],
            },
        ],
    },
    {
        "id": "PEP2",
        "type": "escalation_policy",
        "name": "Ops",
        "num_loops": 0,
        "escalation_rule_assignment_strategy": {"type": "round_robin"},
        "escalation_rules": [
            {
                "id": "PER3",
                "escalation_delay_in_minutes": 10,
                "targets": [
                    {"id": "PALICE", "type": "user_reference"},
                    {"id": "PBOB", "type": "user_reference"},
                ],
            },
        ],
    },
]
SERVICES = [
    {
        "id": "PSVC1",
        "type": "service",
        "name": "Checkout API",
        "description": "Card checkout",
        "teams": [{"id": "PTEAM1", "type": "team_reference"}],
        "status": "active",
        "escalation_policy": {"id": "PEP1", "type": "escalation_policy_reference"},
        "acknowledgement_timeout": 1800,
        "auto_resolve_timeout": 14400,
        "incident_urgency_rule": {"type": "constant", "urgency": "severity_based"},
        "integrations": [
            {
                "id": "PI1",
                "type": "events_api_v2_inbound_integration",
                "name": "Datadog",
                "integration_key": DATADOG_KEY,
                "vendor": {"id": "PV1", "summary": "Datadog"},
            },
            {
                "id": "PI2",
                "type": "generic_email_inbound_integration",
                "name": "Email",
                "integration_email": "checkout@acme.pagerduty.com",
            },
            {"id": "PI3", "type": "integration_reference"},
        ],
    },
    {
        "id": "PSVC2",
        "type": "service",
        "name": "Legacy batch",
        "status": "disabled",
        "teams": [{"id": "PTEAM2", "type": "team_reference"}],
        "escalation_policy": {"id": "PEP2", "type": "escalation_policy_reference"},
        "acknowledgement_timeout": None,
        "auto_resolve_timeout": None,
        "incident_urgency_rule": {"type": "constant", "urgency": "low"},
        "integrations": [],
    },
]
# The integration listed only by reference above, as GET services/PSVC1/integrations/PI3 shows it.
INTEGRATION_V1 = {
    "id": "PI3",
    "type": "generic_events_api_inbound_integration",
    "name": "Nagios",
    "integration_key": V1_KEY,
}
WINDOWS = [
    {
        "id": "PMW1",
        "start_time": "2026-03-20T01:00:00-04:00",
        "end_time": "2026-03-20T03:00:00-04:00",
        "description": "Database upgrade",
        "services": [{"id": "PSVC1", "type": "service_reference"}],
    },
]
TEAMS = [
    {"id": "PTEAM1", "type": "team", "name": "Payments", "description": ""},
    {"id": "PTEAM2", "type": "team", "name": "Platform", "description": "Batch and infra"},
    {"id": "PTEAM3", "type": "team", "name": "Data", "description": None},
]


def _member(uid: str, role: str) -> Any:
    return {"user": {"id": uid, "type": "user_reference"}, "role": role}


# GET /teams/{id}/members, paginated like every classic list.
TEAM_MEMBERS = {
    "PTEAM1": [
        _member("PALICE", "manager"),
        _member("PCAROL", "responder"),
        _member("PDAVE", "observer"),
        _member("PGONE", "responder"),
    ],
    "PTEAM2": [_member("PBOB", "manager")],
    "PTEAM3": [],
}


def _classic(wrapper: str, items: list[Any]) -> Route:
    def route(_: str, query: Query) -> Any:
        page, offset, more = page_of(items, query, size=PAGE)
        return {wrapper: page, "limit": len(page), "offset": offset, "more": more, "total": None}

    return route


def routes() -> dict[str, Route]:
    """PagerDuty's REST API paths the importer reads."""
    return {
        "/users": _classic("users", USERS),
        "/schedules": _classic("schedules", [{"id": "PSCHED1", "name": "Payments primary"}]),
        "/schedules/PSCHED1": lambda _, q: {"schedule": SCHEDULE},
        "/schedules/PSCHED1/overrides": lambda _, q: {"overrides": OVERRIDES},
        "/escalation_policies": _classic("escalation_policies", POLICIES),
        "/services": _classic("services", SERVICES),
        "/services/PSVC1/integrations/PI3": lambda _, q: {"integration": INTEGRATION_V1},
        "/maintenance_windows": _classic("maintenance_windows", WINDOWS),
        "/teams": _classic("teams", TEAMS),
        **{f"/teams/{tid}/members": _classic("members", m) for tid, m in TEAM_MEMBERS.items()},
    }
