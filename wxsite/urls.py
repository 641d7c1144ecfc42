"""URLs: the WeChat endpoint, the health check and the admin (its path is configurable)."""

from django.conf import settings
from django.contrib import admin
from django.urls import path

from replies import views

urlpatterns = [
    path("wechat/", views.wechat, name="wechat"),
    path("wechat", views.wechat),
    path("healthz", views.healthz, name="healthz"),
    path(settings.ADMIN_URL, admin.site.urls),
]
