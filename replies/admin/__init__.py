"""The admin: reply rules (with the rule tester), the read-only message log, security events."""

from replies.admin import messages, rules, security  # noqa: F401  (registers them)
