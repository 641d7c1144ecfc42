"""The menu editors' group gets the Chinese name operators see (console.groups).

A deployment from before has "Menu editors" in its database: it is renamed, keeping its people and
permissions (or merged into a group of the new name if both exist), as replies'
0004_chinese_group_names does for the other groups. The names are spelled out here, not
imported: a migration keeps the names of its time.
"""

from django.db import migrations

RENAMES = {"Menu editors": "菜单编辑"}


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
        ("console", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            rename_groups(RENAMES),
            rename_groups({new: old for old, new in RENAMES.items()}),
        ),
    ]
