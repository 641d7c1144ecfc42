"""The project's admin site: titles in the operators' language, two-factor login for staff.

Installed through ``wxsite.apps.WxsiteAdminConfig.default_site`` (Django's documented way to
replace ``admin.site``), so every ``admin.register`` and ``admin.site.urls`` uses it. Apps add
their pages with ``ModelAdmin.get_urls``; nothing patches the site at import time.

Two-factor authentication (the policy is in ``staff.two_factor``): the login form asks for a code
when the user has a device, and `has_permission` lets a user in only when the second factor
allows it — like django-otp's OTPAdminSite, but a user without a device is let in unless
DJANGO_ADMIN_REQUIRE_2FA says their kind of account must have one; such a user sees a page that
tells them how to get one instead of the login form.
"""

from functools import partial

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _

from staff import two_factor, views
from staff.forms import AdminLoginForm


class WxsiteAdminSite(admin.AdminSite):
    site_header = _("wxsite administration")
    site_title = _("wxsite")
    index_title = _("WeChat auto-reply")
    # The site has no public pages: "view site" would open a bare 404.
    site_url = None
    login_form = AdminLoginForm
    login_template = "staff/login.html"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        match = request.resolver_match
        if match is not None and match.url_name == "logout":
            return True  # a user the second factor keeps out can still log out
        return two_factor.may_use_admin(request.user)

    def login(self, request, extra_context=None):
        user = request.user
        if (
            request.method == "GET"
            and user.is_active
            and user.is_staff
            and two_factor.must_enroll(user)
        ):
            return views.two_factor_required_view(request, site=self)
        return super().login(request, extra_context)

    def get_urls(self):
        return [
            path(
                "account/two-factor/",
                self.admin_view(partial(views.two_factor_view, site=self)),
                name="two_factor",
            ),
            *super().get_urls(),
        ]
