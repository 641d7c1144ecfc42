"""The row that stands for the account configured in the environment (WECHAT_TOKEN …).

Its secrets are never stored: they stay the settings they were. Every existing staff user becomes
a member, so that an upgrade changes nothing for anyone: each still sees the one account. The row
is named in Chinese like the staff groups (the admin's language); rename it in the admin.
"""

from django.conf import settings
from django.db import migrations

ENVIRONMENT_SLUG = "default"
ENVIRONMENT_NAME = "默认公众号"


def create_environment_account(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    account, _created = Account.objects.get_or_create(
        from_environment=True,
        defaults={"slug": ENVIRONMENT_SLUG, "name": ENVIRONMENT_NAME},
    )
    account.members.add(*User.objects.filter(is_staff=True))


def remove_environment_account(apps, schema_editor):
    apps.get_model("accounts", "Account").objects.filter(from_environment=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(create_environment_account, remove_environment_account),
    ]
