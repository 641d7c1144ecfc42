"""The model the insight pages hang from in the admin: a proxy of the message log, no table.

The admin lists apps by their registered models; a proxy gives the pages their place in it
(and `ModelAdmin.get_urls` their URLs) without a table of their own or any patching of the site.
"""

from django.utils.translation import gettext_lazy as _

from replies.models import Message


class Report(Message):
    class Meta:
        proxy = True
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        # The pages check replies.view_message; no permission of their own to hand out.
        default_permissions = ()
