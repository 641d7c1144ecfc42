"""/healthz answers a load balancer calling it by IP; all else keeps host validation."""

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

LB_HOST = "10.0.0.5:8000"  # how a load balancer addresses a backend: by IP, not in ALLOWED_HOSTS


@pytest.fixture(autouse=True)
def public_host_only(settings):
    settings.ALLOWED_HOSTS = ["wx.example.com"]
    settings.DEBUG = False


def test_health_middleware_comes_before_anything_that_reads_the_host():
    assert settings.MIDDLEWARE[0] == "wxsite.middleware.HealthCheckAnyHostMiddleware"


@pytest.mark.django_db
def test_healthz_answers_a_host_not_in_allowed_hosts(client):
    response = client.get("/healthz", HTTP_HOST=LB_HOST)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_head_by_ip_as_it_answers_the_public_host(client):
    # Host validation is skipped for HEAD too; which methods the view takes is the view's affair.
    by_ip = client.head("/healthz", HTTP_HOST=LB_HOST).status_code
    assert by_ip == client.head("/healthz", HTTP_HOST="wx.example.com").status_code
    assert by_ip != 400


@pytest.mark.django_db
def test_healthz_still_answers_the_public_host(client):
    response = client.get("/healthz", HTTP_HOST="wx.example.com")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_a_database_failure_by_ip_too(client, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz", HTTP_HOST=LB_HOST)
    assert response.status_code == 503


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/wechat/"),
        ("post", "/wechat/"),
        ("get", "/admin/login/"),
        ("get", "/healthz/"),  # only the exact path bypasses validation
        ("get", "/healthzz"),
        ("post", "/healthz"),  # only GET and HEAD
        ("get", "/"),
    ],
)
@pytest.mark.django_db
def test_other_requests_from_an_unknown_host_are_refused(client, method, path):
    response = getattr(client, method)(path, HTTP_HOST=LB_HOST)
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_urlconf_without_healthz_falls_through_to_host_validation(client, settings):
    class UrlconfWithoutHealthz:
        urlpatterns = [path("wechat/", lambda request: HttpResponse("ok"))]

    settings.ROOT_URLCONF = UrlconfWithoutHealthz
    assert client.get("/healthz", HTTP_HOST=LB_HOST).status_code == 400


@pytest.mark.django_db
def test_a_load_balancer_may_check_with_head(client):
    assert client.head("/healthz", HTTP_HOST=LB_HOST).status_code == 200
