"""`stairway --help` answers without loading the server's stack."""

import subprocess
import sys

from tests.faults.harness import ROOT

HEAVY = ("fastapi", "sqlalchemy", "asyncpg", "arq", "httpx", "pydantic")

PROBE = f"""
import sys
sys.argv = ["stairway", "--help"]
from app.cli import main
try:
    main()
except SystemExit:
    pass
print("loaded:", ",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_help_loads_no_server_library() -> None:
    # Each command imports what it runs only when it runs; one module-level import of the
    # web or database stack in any command module makes every `stairway` invocation pay for it.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "loaded:"
