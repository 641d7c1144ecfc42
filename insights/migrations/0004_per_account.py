"""Every rollup per official account; unanswered queries and active followers kept for the pages.

The hourly rollups are dropped and created again with the account in their key, and the
watermark goes back to 0: the next `manage.py rollup_insights` rebuilds them from the log (history
purged from the log before is lost from the insights).
"""

import django.db.models.deletion
from django.db import migrations, models


def reset_watermark(apps, schema_editor):
    # The rollups are rebuilt per account: the next `rollup_insights` reads the whole log again.
    apps.get_model("insights", "RollupState").objects.update(last_id=0, updated_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_texthour_bykey_index"),
        ("accounts", "0002_environment_account"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollupstate",
            name="time_zone",
            field=models.CharField(
                blank=True,
                help_text="The TIME_ZONE FollowerDay counted local days in, e.g. Asia/Shanghai.",
                max_length=64,
                verbose_name="time zone of the days",
            ),
        ),
        migrations.DeleteModel(name="MessageHour"),
        migrations.DeleteModel(name="HandlingHour"),
        migrations.DeleteModel(name="FollowerHour"),
        migrations.DeleteModel(name="FollowerFirstSeen"),
        migrations.DeleteModel(name="TextHour"),
        migrations.RunPython(reset_watermark, migrations.RunPython.noop),
        migrations.AddField(
            model_name="rollupstate",
            name="queries_basis",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="What the kept unanswered queries were counted for; empty until counted.",
                verbose_name="basis of the unanswered queries",
            ),
        ),
        migrations.CreateModel(
            name="QueryPeriod",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "scope",
                    models.IntegerField(help_text="0: every account.", verbose_name="account id"),
                ),
                ("days", models.SmallIntegerField(help_text="7, 30 or 90.", verbose_name="days")),
                ("key", models.CharField(max_length=200, verbose_name="query")),
                ("sample", models.CharField(max_length=200, verbose_name="sample")),
                ("followers", models.IntegerField(verbose_name="followers")),
                ("messages", models.IntegerField(verbose_name="messages")),
                ("first_seen", models.DateTimeField(verbose_name="first seen")),
                ("last_seen", models.DateTimeField(verbose_name="last seen")),
            ],
            options={
                "verbose_name": "unanswered query of a period",
                "verbose_name_plural": "unanswered queries of a period",
                "default_permissions": (),
                "indexes": [
                    models.Index(
                        models.F("scope"),
                        models.F("days"),
                        models.OrderBy(models.F("followers"), descending=True),
                        models.OrderBy(models.F("messages"), descending=True),
                        models.OrderBy(models.F("last_seen"), descending=True),
                        models.F("key"),
                        name="insights_queryperiod_rank",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scope", "days", "key"), name="insights_queryperiod_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="QueryTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "scope",
                    models.IntegerField(help_text="0: every account.", verbose_name="account id"),
                ),
                ("days", models.SmallIntegerField(verbose_name="days")),
                ("groups", models.IntegerField(default=0, verbose_name="queries")),
                ("messages", models.BigIntegerField(default=0, verbose_name="messages")),
            ],
            options={
                "verbose_name": "unanswered queries of a period, in all",
                "verbose_name_plural": "unanswered queries of a period, in all",
                "default_permissions": (),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scope", "days"), name="insights_querytotal_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="FollowerDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "since",
                    models.DateTimeField(
                        help_text="Local midnight, e.g. 16:00 UTC.", verbose_name="from (UTC)"
                    ),
                ),
                (
                    "until",
                    models.DateTimeField(
                        help_text="The next local midnight.", verbose_name="to (UTC)"
                    ),
                ),
                ("followers", models.IntegerField(default=0, verbose_name="followers")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "active followers per day",
                "verbose_name_plural": "active followers per day",
                "default_permissions": (),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "since", "until"), name="insights_followerday_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="FollowerFirstSeen",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("openid", models.CharField(max_length=128, verbose_name="OpenID")),
                ("first_seen_at", models.DateTimeField(verbose_name="first seen at")),
                ("first_hour", models.DateTimeField(verbose_name="first hour (UTC)")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "follower first seen",
                "verbose_name_plural": "followers first seen",
                "default_permissions": (),
                "indexes": [
                    models.Index(fields=["account", "first_hour"], name="insights_firstseen_hour")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "openid"), name="insights_followerfirstseen_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="FollowerHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hour", models.DateTimeField(verbose_name="hour (UTC)")),
                ("openid", models.CharField(max_length=128, verbose_name="OpenID")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "active follower",
                "verbose_name_plural": "active followers",
                "default_permissions": (),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "openid", "hour"), name="insights_followerhour_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="HandlingHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hour", models.DateTimeField(verbose_name="hour (UTC)")),
                (
                    "bin",
                    models.SmallIntegerField(
                        help_text="floor(20 × log10(ms)), e.g. 20 for 10 ms.", verbose_name="bin"
                    ),
                ),
                ("messages", models.IntegerField(default=0, verbose_name="messages")),
                ("min_ms", models.FloatField(verbose_name="smallest (ms)")),
                ("max_ms", models.FloatField(verbose_name="largest (ms)")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "handling times per hour",
                "verbose_name_plural": "handling times per hour",
                "default_permissions": (),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "hour", "bin"), name="insights_handlinghour_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MessageHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "hour",
                    models.DateTimeField(
                        help_text="Start of the hour, e.g. 08:00.", verbose_name="hour (UTC)"
                    ),
                ),
                ("msg_type", models.CharField(max_length=32, verbose_name="message type")),
                ("event", models.CharField(blank=True, max_length=64, verbose_name="event")),
                (
                    "rule_id",
                    models.IntegerField(
                        default=0,
                        help_text="The rule that answered; 0 when none did.",
                        verbose_name="rule id",
                    ),
                ),
                (
                    "rule_name",
                    models.CharField(blank=True, max_length=60, verbose_name="rule name"),
                ),
                (
                    "answered",
                    models.BooleanField(
                        help_text="False when we answered success.", verbose_name="answered"
                    ),
                ),
                ("messages", models.IntegerField(default=0, verbose_name="messages")),
                ("last_at", models.DateTimeField(verbose_name="last received at")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "messages per hour",
                "verbose_name_plural": "messages per hour",
                "default_permissions": (),
                "indexes": [
                    models.Index(fields=["rule_id", "hour"], name="insights_messagehour_rule")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "account",
                            "hour",
                            "msg_type",
                            "event",
                            "rule_id",
                            "rule_name",
                            "answered",
                        ),
                        name="insights_messagehour_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TextHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hour", models.DateTimeField(verbose_name="hour (UTC)")),
                (
                    "key",
                    models.CharField(
                        help_text="e.g. “hello”", max_length=200, verbose_name="query"
                    ),
                ),
                (
                    "variant",
                    models.CharField(
                        help_text="The text as rules compare it, e.g. “hello!”.",
                        max_length=200,
                        verbose_name="as written",
                    ),
                ),
                (
                    "rule_id",
                    models.IntegerField(
                        default=0, help_text="0 when none answered.", verbose_name="rule id"
                    ),
                ),
                ("openid", models.CharField(max_length=128, verbose_name="OpenID")),
                ("messages", models.IntegerField(default=0, verbose_name="messages")),
                (
                    "sample",
                    models.CharField(help_text="As sent.", max_length=200, verbose_name="sample"),
                ),
                ("first_at", models.DateTimeField(verbose_name="first received at")),
                ("last_at", models.DateTimeField(verbose_name="last received at")),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.account",
                        verbose_name="official account",
                    ),
                ),
            ],
            options={
                "verbose_name": "texts per hour",
                "verbose_name_plural": "texts per hour",
                "default_permissions": (),
                "indexes": [
                    models.Index(
                        fields=[
                            "account",
                            "key",
                            "hour",
                            "rule_id",
                            "openid",
                            "messages",
                            "first_at",
                            "last_at",
                        ],
                        name="insights_texthour_bykey",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "hour", "key", "variant", "rule_id", "openid"),
                        name="insights_texthour_key",
                    )
                ],
            },
        ),
    ]
