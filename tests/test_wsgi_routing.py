"""The production WSGI application: WeChat's requests skip the middleware, the rest keep it;
on each endpoint path (/wechat/ and a stored account's /wechat/<slug>/)."""

import hashlib
import io
import time

import pytest

from replies.models import Message
from replies.protocol.client import build_message_xml
from tests import accounts_helpers
from tests.conftest import TOKEN
from tests.factories import make_rule

# A fixture: each endpoint path in turn (/wechat/ and a stored account's /wechat/<slug>/).
endpoint = accounts_helpers.endpoint


def call(application, path, *, method="GET", query="", body=b"", host="localhost"):
    status_headers = {}

    def start_response(status, headers, exc_info=None):
        status_headers["status"] = int(status.split()[0])
        status_headers["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    chunks = application(environ, start_response)
    content = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return status_headers["status"], status_headers["headers"], content


def signed_query(nonce="777"):
    timestamp = str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


@pytest.fixture
def application():
    from wxsite.wsgi import application

    return application


@pytest.mark.django_db(transaction=True)
def test_a_message_through_the_short_road_is_stored_and_answered(application, settings, endpoint):
    settings.ALLOWED_HOSTS = ["localhost"]
    make_rule("hi", keywords=["hi"], text="hello")
    xml = build_message_xml(
        msg_type="text",
        from_user="o1",
        to_user="gh_1",
        create_time=int(time.time()),
        Content="hi",
        MsgId=42,
    )
    status, headers, content = call(
        application, endpoint.path, method="POST", query=signed_query(), body=xml
    )
    assert status == 200 and b"hello" in content
    assert headers["X-Content-Type-Options"] == "nosniff"
    # No middleware ran: none of the headers SecurityMiddleware and XFrameOptionsMiddleware add.
    assert "X-Frame-Options" not in headers and "Referrer-Policy" not in headers
    assert Message.objects.filter(msg_id="42", account=endpoint.account_id).exists()


@pytest.mark.django_db
def test_the_short_road_still_refuses_an_unknown_host(application, settings, endpoint):
    settings.ALLOWED_HOSTS = ["wx.example.com"]
    status, _, _ = call(application, endpoint.path, query=signed_query(), host="evil.example")
    assert status == 400


@pytest.mark.django_db
def test_other_paths_keep_the_middleware(application, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    status, headers, _ = call(application, "/admin/login/")
    assert status == 200
    assert "Content-Security-Policy" in headers and headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in headers.get("Set-Cookie", "")


@pytest.mark.django_db(transaction=True)  # the real handler closes a connection mid-transaction
def test_verification_get_takes_the_short_road(application, settings, endpoint):
    settings.ALLOWED_HOSTS = ["localhost"]
    status, headers, content = call(
        application, endpoint.path.rstrip("/"), query=signed_query() + "&echostr=abc123"
    )
    assert (status, content) == (200, b"abc123")
    assert "Content-Security-Policy" not in headers


@pytest.mark.parametrize(
    "path, short",
    [
        ("/wechat", True),
        ("/wechat/", True),
        ("/wechat/shop-a/", True),
        ("/wechat/no-such-account", True),
        ("/wechat-admin/", False),
        ("/wechatx", False),
        ("/admin/wechat/", False),
        ("/", False),
    ],
)
def test_every_path_under_wechat_and_only_those_take_the_short_road(path, short):
    from wxsite.wsgi import EndpointRouter

    router = EndpointRouter(site=lambda *_: "site", endpoint=lambda *_: "endpoint")
    assert router({"PATH_INFO": path}, None) == ("endpoint" if short else "site")


@pytest.mark.django_db(transaction=True)
def test_an_unknown_account_on_the_short_road_is_a_short_404(application, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    status, headers, content = call(application, "/wechat/no-such-account/", query=signed_query())
    assert status == 404 and headers["Content-Type"].startswith("text/plain")
    assert len(content) < 100
