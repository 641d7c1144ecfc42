"""WSGI entry point: `gunicorn wxsite.wsgi` (see gunicorn.conf.py).

WeChat's requests take a shorter road than the admin's. The endpoint uses none of the middleware
(sessions, authentication, CSRF (it is exempt), locale, messages, static files, the admin's
Content-Security-Policy), and running it cost a tenth of the endpoint's throughput; so
`/wechat/` and every path under it (`/wechat/<slug>/`, one per account) go to a Django handler
with no middleware, and everything else to the usual one.
The short road keeps what matters for the endpoint: Django's request signals (database
connections are reused and closed as usual), host validation (an unknown Host is a 400, as
CommonMiddleware makes it) and nosniff on the answer.
"""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")

# The endpoint's paths, as wxsite/urls.py routes them: "/wechat", "/wechat/" and
# "/wechat/<slug>/". A prefix, not a set of paths: accounts are added while the server runs.
ENDPOINT = "/wechat"
ENDPOINT_PREFIX = "/wechat/"


class EndpointHandler(WSGIHandler):
    """Django's WSGI handler without middleware, for WeChat's requests only."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._answer)

    def _answer(self, request):
        request.get_host()  # DisallowedHost -> 400, as with the full middleware
        response = self._get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


class EndpointRouter:
    """Send the endpoint's paths to `endpoint` and every other request to `site`."""

    def __init__(self, *, site, endpoint):
        self.site = site
        self.endpoint = endpoint

    def __call__(self, environ, start_response):
        if _is_endpoint(environ.get("PATH_INFO", "")):
            return self.endpoint(environ, start_response)
        return self.site(environ, start_response)


def _is_endpoint(path: str) -> bool:
    """Return whether `path` is the endpoint's: /wechat or under /wechat/ (not /wechat-admin/)."""
    return path.startswith(ENDPOINT_PREFIX) or path == ENDPOINT


application = EndpointRouter(site=get_wsgi_application(), endpoint=EndpointHandler())
