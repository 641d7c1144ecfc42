"""URLs: the WeChat endpoint (one path per account), the health check and the admin (its path is
configurable)."""

from csp.decorators import csp_exempt
from django.conf import settings
from django.contrib import admin
from django.urls import path

from replies.endpoint import views

# WeChat's servers and the load balancer read no HTML: no Content-Security-Policy header for them
# (it is ~250 bytes on every message). Exempted per view, not by path prefix, so that an admin
# path such as "wechat-admin/" can never lose its policy.
wechat = csp_exempt()(views.wechat)
healthz = csp_exempt()(views.healthz)

urlpatterns = [
    # The environment account, where WeChat's console has always pointed.
    path("wechat/", wechat, name="wechat"),
    path("wechat", wechat),
    # A stored account (accounts.Account.endpoint_path); the view answers an unknown slug 404.
    path("wechat/<str:slug>/", wechat, name="wechat-account"),
    path("wechat/<str:slug>", wechat),
    path("healthz", healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
]
