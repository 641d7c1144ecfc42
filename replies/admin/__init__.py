"""The admin: reply rules (with the rule tester), the read-only message log, the outbox,
security events, spool conflicts."""

from replies.admin import messages, outbox, rules, security, spool  # noqa: F401  (registers them)
