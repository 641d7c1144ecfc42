"""Project-level app configs: the admin, installed with the project's own site class."""

from django.contrib.admin.apps import AdminConfig


class WxsiteAdminConfig(AdminConfig):
    default_site = "wxsite.admin_site.WxsiteAdminSite"
