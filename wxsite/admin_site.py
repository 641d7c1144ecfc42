"""The project's admin site: titles in the operators' language and no dead "view site" link.

Installed through ``wxsite.apps.WxsiteAdminConfig.default_site`` (Django's documented way to
replace ``admin.site``), so every ``admin.register`` and ``admin.site.urls`` uses it. Apps add
their pages with ``ModelAdmin.get_urls``; nothing patches the site at import time.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class WxsiteAdminSite(admin.AdminSite):
    site_header = _("wxsite administration")
    site_title = _("wxsite")
    index_title = _("WeChat auto-reply")
    # The site has no public pages: "view site" would open a bare 404.
    site_url = None
