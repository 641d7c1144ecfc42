"""Several official accounts: every message, rule, security event, spool conflict and outgoing
message belongs to an account (accounts.Account).

Existing rows go to the environment account (the one /wechat/ has always served); the column
that held ToUserName keeps its values under the name `to_user`; rules start as "every account".
"""

import django.db.models.deletion
from django.db import migrations, models

import accounts.environment


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_environment_account"),
        ("replies", "0005_outgoing_messages_reply_all"),
    ]

    operations = [
        migrations.RenameField(model_name="message", old_name="account", new_name="to_user"),
        migrations.AddField(
            model_name="message",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                default=accounts.environment.environment_account_id,
                help_text="The account whose URL received the message.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AddField(
            model_name="replyrule",
            name="account",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty: the rule answers on every account.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AddField(
            model_name="securityevent",
            name="account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The account whose URL was called; empty when the URL named none we have.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AddField(
            model_name="spoolconflict",
            name="account",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The account the spooled message came to.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="to_user",
            field=models.CharField(
                help_text="ToUserName: our account, e.g. gh_123456789abc.",
                max_length=64,
                verbose_name="original id",
            ),
        ),
        migrations.RemoveIndex(model_name="outgoingmessage", name="outgoing_follower"),
        migrations.RemoveField(model_name="outgoingmessage", name="account"),
        migrations.AddField(
            model_name="outgoingmessage",
            name="account",
            field=models.ForeignKey(
                default=accounts.environment.environment_account_id,
                help_text="The account that sends it (its AppID and AppSecret call WeChat).",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.account",
                verbose_name="official account",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["account", "-received_at"], name="message_account"),
        ),
        migrations.AddIndex(
            model_name="outgoingmessage",
            index=models.Index(fields=["openid", "account", "id"], name="outgoing_follower"),
        ),
    ]
