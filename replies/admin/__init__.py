"""The admin: reply rules (with the rule tester), the read-only message log, security events,
spool conflicts."""

from replies.admin import messages, rules, security, spool  # noqa: F401  (registers them)
