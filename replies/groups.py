"""The staff groups every deployment starts with, kept in step with the models after migrate.

日志查看员 (log readers) may read the message log, security events and spool conflicts (and look
at rules and the tester) but change nothing; 规则编辑 (rule editors) may also add, change and
delete reply rules; 客服 (customer service) may read the log and answer followers from it (the
reply form in the conversation, resending from the outbox). Superusers need none. Assign
people to a group in the admin under Users.

The names are stored in the database in the operators' language; this module is their one home.
Deployments from before had them in English: migration 0004_chinese_group_names renames them.
"""

from django.contrib.auth.models import Group, Permission

LOG_READERS = "日志查看员"  # was "Log readers"
RULE_EDITORS = "规则编辑"  # was "Rule editors"
CUSTOMER_SERVICE = "客服"

_READ = [
    "view_message",
    "view_securityevent",
    "view_spoolconflict",
    "view_replyrule",
    "view_trigger",
    "view_rulereply",
    "view_outgoingmessage",
]
_EDIT = [
    f"{action}_{model}"
    for model in ("replyrule", "trigger", "rulereply")
    for action in ("add", "change", "delete")
]
_SEND = ["send_outgoingmessage"]
GROUPS = {LOG_READERS: _READ, RULE_EDITORS: _READ + _EDIT, CUSTOMER_SERVICE: _READ + _SEND}


def ensure_staff_groups(sender=None, **kwargs) -> None:
    """Create the groups (or add missing permissions); never removes what an admin added."""
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="replies", codename__in=codenames
        )
        group.permissions.add(*permissions)
