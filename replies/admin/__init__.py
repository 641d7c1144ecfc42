"""The admin: reply rules (with the rule tester) and the read-only message log."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from replies.admin import insights, messages, rules, security  # noqa: F401  (registers them)

admin.site.site_header = _("wxsite administration")
admin.site.site_title = _("wxsite")
admin.site.index_title = _("WeChat auto-reply")
