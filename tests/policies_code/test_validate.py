"""Validation names the file, the line and the field of every problem, without a database."""

from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.policyfiles.documents import read_policies
from tests.policies_code.conftest import TEAM, write

ROOT = Path(__file__).resolve().parents[2]


def problems_of(directory: Path) -> list[str]:
    return [str(p) for p in read_policies(directory)[1]]


def test_unknown_schedule_names_file_line_and_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "people.yaml",
        """
        users:
          - name: Ada
            email: ada@example.com
        """,
    )
    path = write(
        tmp_path,
        "payments.yaml",
        """
        escalation_policies:
          - name: payments
            levels:
              - escalate_after_seconds: 300
                targets:
                  - user: ada@example.com
              - escalate_after_seconds: 600
                targets:
                  - schedule: payments-primary
        """,
    )
    assert problems_of(tmp_path) == [
        f'{path}:9 levels[1].targets[0]: unknown schedule "payments-primary"'
    ]


def test_schema_errors_point_at_the_line_of_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "all.yaml",
        """
        users:
          - name: Ada
            email: ada@example.com
            role: boss
            contact_methods:
              - type: sms
                address: "12345"
                notification_rules:
                  - delay_seconds: -1
        schedules:
          - name: primary
            time_zone: Mars/Olympus
            layers:
              - participants: [ada@example.com, bob@example.com]
                rotation: weekly
                start: "2026-01-05T09:00:00Z"
        services:
          - name: api
            escalation_policy: nope
            colour: blue
        """,
    )
    assert problems_of(tmp_path) == [
        f"{path}:4 role: Input should be 'admin', 'responder' or 'observer'",
        f"{path}:7 contact_methods[0].address: must be an E.164 phone number such as "
        "+14155550123 for a sms contact method",
        f"{path}:9 contact_methods[0].notification_rules[0].delay_seconds: "
        "Input should be greater than or equal to 0",
        f"{path}:12 time_zone: unknown IANA time zone 'Mars/Olympus'",
        f'{path}:14 layers[0].participants[1]: unknown user "bob@example.com"',
        f'{path}:19 escalation_policy: unknown escalation policy "nope"',
        f"{path}:20 colour: unknown field",
    ]


def test_structure_duplicates_and_syntax(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "a.yaml",
        """
        services: []
        escalation_policies:
          - name: payments
            levels:
              - escalate_after_seconds: 60
                targets: [{webhook: "https://hooks.example.com/x"}]
        """,
    )
    second = write(
        tmp_path,
        "b.yml",
        """
        escalation_policies:
          - name: payments
            levels:
              - escalate_after_seconds: 60
                targets:
                  - {user: a@example.com, schedule: s}
                  - {group: ops}
        servics: []
        """,
    )
    broken = write(tmp_path, "nested/c.yaml", "users:\n  - name: [unclosed\n")
    assert problems_of(tmp_path) == [
        f'{second}:2 name: duplicate escalation policy "payments" (first at {first}:3)',
        f"{second}:6 levels[0].targets[0]: give exactly one of user, schedule, team, webhook: "
        "a target is {user: <email>}, {schedule: <name>}, {team: <name>} or {webhook: <url>}",
        f"{second}:7 levels[0].targets[1].group: unknown field; a target is {{user: <email>}}, "
        "{schedule: <name>}, {team: <name>} or {webhook: <url>}",
        f"{second}:8 servics: unknown section; expected one of users, teams, schedules, "
        "escalation_policies, services",
        f"{broken}:3 invalid YAML: expected ',' or ']', but got '<stream end>'",
    ]


def test_ids_are_refused_in_favour_of_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "svc.yaml",
        """
        services:
          - name: api
            escalation_policy_id: 2b7e8c1a-5f43-4f0e-9d7b-1b2c3d4e5f60
        """,
    )
    assert (
        problems_of(tmp_path)
        == [
            f"{path}:3 escalation_policy_id: unknown field; use escalation_policy (a name)",
            f"{path}:2 escalation_policy: required",
        ][::-1]
    )


def test_yaml_1_1_surprises_stay_text(tmp_path: Path) -> None:
    # YAML 1.1 reads `17:30` as the number 1050 and `no` as false; policy files keep the text.
    text = TEAM.replace("start: 09:30", "start: 17:30").replace("value: critical", "value: no")
    write(tmp_path, "t.yaml", text)
    desired, problems = read_policies(tmp_path)
    assert problems == []
    layer = desired.docs["schedules"]["payments-primary"]["layers"][0]
    assert layer["restrictions"][0]["start"] == "17:30:00"
    rule = desired.docs["services"]["payments-api"]["routing_rules"][0]
    assert rule["conditions"][0]["value"] == "no"


def test_the_shipped_example_set_is_valid() -> None:
    desired, problems = read_policies(ROOT / "policies")
    assert problems == []
    assert len(desired.docs["users"]) >= 6
    services = desired.docs["services"]
    assert {k["name"] for k in services["payments-api"]["integration_keys"]} == {
        "alertmanager",
        "pagerduty",
    }
    for policy in desired.docs["escalation_policies"].values():
        assert len(policy["levels"]) == 2


def test_cli_validate_exits_non_zero_and_prints_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        escalation_policies:
          - name: p
            levels:
              - escalate_after_seconds: 0
                targets: [{webhook: "https://hooks.example.com/x"}]
        """,
    )
    result = CliRunner().invoke(cli, ["policies", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{path}:4 levels[0].escalate_after_seconds: Input should be greater than or " in (
        result.stderr
    )
    assert "1 problem(s)" in result.stderr

    ok = CliRunner().invoke(cli, ["policies", "validate", str(ROOT / "policies")])
    assert ok.exit_code == 0, ok.output
    assert "OK (6 users, 0 teams, 2 schedules, 2 escalation policies, 2 services)" in ok.stdout
