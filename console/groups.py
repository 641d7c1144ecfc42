"""The staff group for the custom menu, and what the existing log readers may see of it.

菜单编辑 (menu editors) may edit the draft menu, import the live one and publish; 日志查看员 (log
readers, from replies.groups) may look at the menu and its publication history. Like replies'
groups, created or completed after migrate, never trimmed: what an admin added stays. The name
was "Menu editors" before: migration 0002_chinese_group_name renames it.
"""

from django.contrib.auth.models import Group, Permission

from replies.groups import LOG_READERS

MENU_EDITORS = "菜单编辑"  # was "Menu editors"

_VIEW = ["view_menubutton", "view_menupublication"]
_EDIT = [*_VIEW, "change_menubutton", "publish_menu"]
GROUPS = {MENU_EDITORS: _EDIT, LOG_READERS: _VIEW}


def ensure_console_groups(sender=None, **kwargs) -> None:
    """Create the group (or add missing permissions) and let log readers view the menu."""
    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="console", codename__in=codenames
        )
        group.permissions.add(*permissions)
