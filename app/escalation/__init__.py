"""The pure escalation core: decisions from (policy snapshot, position, state, instant)."""
