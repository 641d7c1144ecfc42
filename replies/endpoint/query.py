"""The endpoint's query string: one reader for the view and for the security log."""

from urllib.parse import parse_qsl

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi

from replies.protocol import InvalidParameter


def read_query(request) -> dict[str, str]:
    """Return the query's parameters, the last value of each name winning as in request.GET.

    WeChat's query is five short parameters; Django's QueryDict (mutable multi-values, built
    per request) cost a tenth of the endpoint's CPU per message, urllib's parser a fraction.
    Like QueryDict it decodes UTF-8 and refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    parameters (InvalidParameter, a 400). Bytes that are not UTF-8 become U+FFFD (QueryDict
    reads raw ones as Latin-1): either way such a value fails the signature check.
    """
    raw = get_bytes_from_wsgi(request.META, "QUERY_STRING", "").decode("utf-8", "replace")
    try:
        pairs = parse_qsl(
            raw,
            keep_blank_values=True,
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except ValueError as error:  # more parameters than allowed
        raise InvalidParameter("Too many query parameters.") from error
    return dict(pairs)
