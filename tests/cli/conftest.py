"""The CLI tests reuse the policy-file fixture to put configurations in the test database."""

from tests.policies_code.conftest import files

__all__ = ["files"]
