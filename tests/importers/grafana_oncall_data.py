"""A Grafana OnCall instance as its public API shows it (shapes from OnCall's API reference).

"Platform" is in Australia/Sydney, whose clocks go back on 2026-04-05: a weekly day rotation
(Kim, Lee; Mondays 09:00) at level 0 under a daily night rotation (Mia, Ned; 20:00 for 10 h) at
level 1, and an override for Ned. FINAL_SHIFTS is OnCall's own final schedule for the days
around the change, worked out from those rules by hand.
"""

from typing import Any

from tests.importers.vendor import Query, Route

NOW = "2026-04-01T00:00:00Z"
TOKEN = "Kq8dC2mZpX4vN7bR1tYw9sLe3"
PAGE = 2

USERS = [
    {
        "id": "UKIM",
        "email": "Kim@Example.com ",
        "username": "kim",
        "role": "admin",
        "timezone": "Australia/Sydney",
        "teams": ["TPLAT"],
    },
    {
        "id": "ULEE",
        "email": "lee@example.com",
        "username": "lee",
        "role": "editor",
        "timezone": "Australia/Sydney",
        "teams": ["TPLAT", "TDATA"],
    },
    {
        "id": "UMIA",
        "email": "mia@example.com",
        "username": "mia",
        "role": "editor",
        "timezone": "Australia/Perth",
    },
    {
        "id": "UNED",
        "email": "ned@example.com",
        "username": "ned",
        "role": "viewer",
        "timezone": "Pacific/Auckland",
        "teams": ["TPLAT"],
    },
]
RULES = [
    {"id": "N1", "user_id": "UKIM", "position": 0, "important": False, "type": "notify_by_email"},
    {
        "id": "N2",
        "user_id": "UKIM",
        "position": 1,
        "important": False,
        "type": "wait",
        "duration": 300,
    },
    {"id": "N3", "user_id": "UKIM", "position": 2, "important": False, "type": "notify_by_sms"},
    {
        "id": "N4",
        "user_id": "UKIM",
        "position": 3,
        "important": False,
        "type": "wait",
        "duration": 600,
    },
    {"id": "N5", "user_id": "UKIM", "position": 4, "important": False, "type": "notify_by_email"},
    {
        "id": "N6",
        "user_id": "UKIM",
        "position": 0,
        "important": True,
        "type": "notify_by_phone_call",
    },
]
SHIFTS = [
    {
        "id": "OSDAYS",
        "name": "Days",
        "type": "rolling_users",
        "time_zone": "Australia/Sydney",
        "level": 0,
        "start": "2026-03-30T09:00:00",
        "rotation_start": "2026-03-30T09:00:00",
        "duration": 604800,
        "frequency": "weekly",
        "interval": 1,
        "week_start": "MO",
        "by_day": None,
        "until": None,
        "rolling_users": [["UKIM"], ["ULEE"]],
        "start_rotation_from_user_index": 0,
    },
    {
        "id": "OSNIGHTS",
        "name": "Nights",
        "type": "rolling_users",
        "time_zone": "Australia/Sydney",
        "level": 1,
        "start": "2026-03-28T20:00:00",
        "rotation_start": "2026-03-28T20:00:00",
        "duration": 36000,
        "frequency": "daily",
        "interval": 1,
        "week_start": "MO",
        "by_day": None,
        "until": None,
        "rolling_users": [["UMIA"], ["UNED"]],
        "start_rotation_from_user_index": 0,
    },
    {
        "id": "OSOVR",
        "name": "Swap",
        "type": "override",
        "time_zone": "Australia/Sydney",
        "start": "2026-04-07T12:00:00",
        "duration": 14400,
        "users": ["UNED"],
    },
    {
        "id": "OSMONTH",
        "name": "Month end",
        "type": "rolling_users",
        "time_zone": "Australia/Sydney",
        "level": 2,
        "start": "2026-03-31T09:00:00",
        "duration": 3600,
        "frequency": "monthly",
        "interval": 1,
        "rolling_users": [["ULEE"]],
    },
]
SCHEDULES = [
    {
        "id": "SPLAT",
        "name": "Platform",
        "type": "web",
        "time_zone": "Australia/Sydney",
        "team_id": "TPLAT",
        "shifts": ["OSDAYS", "OSNIGHTS", "OSOVR", "OSMONTH"],
    },
    {
        "id": "SICAL",
        "name": "Support",
        "type": "ical",
        "time_zone": "UTC",
        "ical_url_primary": "https://calendar.example.com/support.ics",
    },
]
# (email, start, end) as OnCall's final_shifts renders them, 2026-04-03 to 2026-04-08 Sydney.
FINAL_SHIFTS = [
    ("ned@example.com", "2026-04-02T13:00:00Z", "2026-04-02T19:00:00Z"),
    ("kim@example.com", "2026-04-02T19:00:00Z", "2026-04-03T09:00:00Z"),
    ("mia@example.com", "2026-04-03T09:00:00Z", "2026-04-03T19:00:00Z"),
    ("kim@example.com", "2026-04-03T19:00:00Z", "2026-04-04T09:00:00Z"),
    ("ned@example.com", "2026-04-04T09:00:00Z", "2026-04-04T20:00:00Z"),  # 11 h: clocks go back
    ("kim@example.com", "2026-04-04T20:00:00Z", "2026-04-05T10:00:00Z"),
    ("mia@example.com", "2026-04-05T10:00:00Z", "2026-04-05T20:00:00Z"),
    ("kim@example.com", "2026-04-05T20:00:00Z", "2026-04-05T23:00:00Z"),
    ("lee@example.com", "2026-04-05T23:00:00Z", "2026-04-06T10:00:00Z"),  # Monday 09:00 AEST
    ("ned@example.com", "2026-04-06T10:00:00Z", "2026-04-06T20:00:00Z"),
    ("lee@example.com", "2026-04-06T20:00:00Z", "2026-04-07T02:00:00Z"),
    ("ned@example.com", "2026-04-07T02:00:00Z", "2026-04-07T06:00:00Z"),  # the override
    ("lee@example.com", "2026-04-07T06:00:00Z", "2026-04-07T10:00:00Z"),
    ("mia@example.com", "2026-04-07T10:00:00Z", "2026-04-07T14:00:00Z"),
]
CHAINS = [{"id": "FCHAIN", "name": "Platform chain", "team_id": "TPLAT"}]
# GET /api/v1/teams/ (no members: those come from each user's `teams`).
TEAMS = [
    {"id": "TPLAT", "grafana_id": 1, "name": "Platform", "email": "", "avatar_url": ""},
    {"id": "TDATA", "grafana_id": 2, "name": "Data", "email": "", "avatar_url": ""},
    {"id": "TEMPTY", "grafana_id": 3, "name": "Empty", "email": "", "avatar_url": ""},
]
STEPS = [
    {
        "id": "E1",
        "escalation_chain_id": "FCHAIN",
        "position": 0,
        "type": "notify_on_call_from_schedule",
        "notify_on_call_from_schedule": "SPLAT",
        "important": False,
    },
    {
        "id": "E2",
        "escalation_chain_id": "FCHAIN",
        "position": 1,
        "type": "notify_persons",
        "persons_to_notify": ["UKIM", "ULEE"],
        "important": False,
    },
    {"id": "E3", "escalation_chain_id": "FCHAIN", "position": 2, "type": "wait", "duration": 900},
    {
        "id": "E4",
        "escalation_chain_id": "FCHAIN",
        "position": 3,
        "type": "notify_persons",
        "persons_to_notify": ["UNED"],
        "important": True,
    },
    {"id": "E5", "escalation_chain_id": "FCHAIN", "position": 4, "type": "wait", "duration": 600},
    {
        "id": "E6",
        "escalation_chain_id": "FCHAIN",
        "position": 5,
        "type": "trigger_webhook",
        "action_to_trigger": "WH1",
    },
    {"id": "E7", "escalation_chain_id": "FCHAIN", "position": 6, "type": "repeat_escalation"},
]
INTEGRATIONS = [
    {
        "id": "CALERT",
        "name": "Alertmanager",
        "type": "alertmanager",
        "team_id": None,
        "link": f"https://oncall.example.com/integrations/v1/alertmanager/{TOKEN}/",
        "default_route": {"id": "RDEF", "escalation_chain_id": "FCHAIN"},
    },
]
ROUTES = [
    {
        "id": "RDB",
        "integration_id": "CALERT",
        "escalation_chain_id": "FCHAIN",
        "routing_type": "regex",
        "routing_regex": "db",
        "position": 0,
        "is_the_last_route": False,
    },
    {
        "id": "RDEF",
        "integration_id": "CALERT",
        "escalation_chain_id": "FCHAIN",
        "routing_type": "regex",
        "routing_regex": ".*",
        "position": 1,
        "is_the_last_route": True,
    },
]


def _paged(items: list[Any], path: str) -> Route:
    def route(base: str, query: Query) -> Any:
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * PAGE : page * PAGE]
        more = page * PAGE < len(items)
        return {
            "count": len(items),
            "next": f"{base}{path}?page={page + 1}" if more else None,
            "previous": f"{base}{path}?page={page - 1}" if page > 1 else None,
            "results": chunk,
            "page_size": PAGE,
            "current_page_number": page,
            "total_pages": -(-len(items) // PAGE),
        }

    return route


def routes() -> dict[str, Route]:
    """Grafana OnCall's public API paths the importer reads."""
    table: dict[str, list[Any]] = {
        "users/": USERS,
        "personal_notification_rules/": RULES,
        "schedules/": SCHEDULES,
        "on_call_shifts/": SHIFTS,
        "escalation_chains/": CHAINS,
        "escalation_policies/": STEPS,
        "integrations/": INTEGRATIONS,
        "routes/": ROUTES,
        "teams/": TEAMS,
    }
    return {f"/api/v1/{p}": _paged(items, f"/api/v1/{p}") for p, items in table.items()}
