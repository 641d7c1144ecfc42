"""The staff groups get the Chinese names operators see (replies.groups): rename the English ones.

A deployment from before has "Log readers" and "Rule editors" in its database, with people in
them; renaming keeps the people and the permissions (and what an admin added). If a group of the
new name exists as well, the old one's members and permissions join it and the old one goes. A
fresh database has no groups yet: post_migrate creates them with the new names. The names are
spelled out here, not imported: a migration keeps the names of its time.
"""

from django.db import migrations

RENAMES = {"Log readers": "日志查看员", "Rule editors": "规则编辑"}


def rename_groups(renames):
    def rename(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        User = apps.get_model("auth", "User")
        for old_name, new_name in renames.items():
            old = Group.objects.filter(name=old_name).first()
            if old is None:
                continue
            new = Group.objects.filter(name=new_name).first()
            if new is None:
                old.name = new_name
                old.save(update_fields=["name"])
                continue
            new.permissions.add(*old.permissions.all())
            for user in User.objects.filter(groups=old):
                user.groups.add(new)
            old.delete()

    return rename


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("replies", "0003_log_choices_conflicts_counts_indexes"),
    ]

    operations = [
        migrations.RunPython(
            rename_groups(RENAMES),
            rename_groups({new: old for old, new in RENAMES.items()}),
        ),
    ]
