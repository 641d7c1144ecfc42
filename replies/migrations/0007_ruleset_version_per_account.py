"""The rule-set version per account: the existing row (no account) now counts the changes to the
rules that answer on every account, and each account gets its own row on its first rule edit.

Also records the verbose name of Message.to_user ("original ID"), which 0006 left out (no
database change).
"""

import django.db.models.deletion
import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_environment_account"),
        ("replies", "0006_accounts"),
    ]

    operations = [
        migrations.AddField(
            model_name="rulesetversion",
            name="account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty: the rules that answer on every account.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AddConstraint(
            model_name="rulesetversion",
            constraint=models.UniqueConstraint(
                django.db.models.functions.comparison.Coalesce("account", models.Value(0)),
                name="ruleset_version_one_per_account",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="to_user",
            field=models.CharField(
                help_text="ToUserName: our account, e.g. gh_123456789abc.",
                max_length=64,
                verbose_name="original ID",
            ),
        ),
    ]
