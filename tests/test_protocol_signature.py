"""Tests for replies.protocol.signature: WeChat's sample signatures and the timestamp window."""

import hashlib

import pytest

from replies.protocol.exceptions import (
    InvalidMsgSignature,
    InvalidSignature,
    InvalidTimestamp,
    NotConfigured,
    StaleTimestamp,
)
from replies.protocol.signature import (
    check_msg_signature,
    check_signature,
    check_timestamp,
    compute_signature,
)

# Official Python sample (Sample.py): token, timestamp, nonce and the msg_signature it checks.
TOKEN = "spamtest"
TIMESTAMP = "1409735669"
NONCE = "1320562132"
MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
# The GET signature for the same token, timestamp and nonce, as published alongside that sample
# in SDK tests; checked below against a hand computation too.
SIGNATURE = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"

# Official C++ sample (Sample.cpp).
CPP_TIMESTAMP = "1410349438"
CPP_NONCE = "298025754"
CPP_MSG_SIGNATURE = "003fee52ecc56afb46c00b5c7721be87860ce785"
CPP_ENCRYPT = (
    "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS"
    "8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDb"
    "OPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It"
    "+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjic"
    "bP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4="
)

# WeChat's documentation example of an encrypted reply (token "AAAAA").
DOC_REPLY_CIPHER = (
    "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSv"
    "PT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
)

NOW = 1409735669.0
WINDOW = 300


def test_compute_signature_is_sha1_of_the_sorted_joined_values():
    expected = hashlib.sha1("".join(sorted([TOKEN, TIMESTAMP, NONCE])).encode()).hexdigest()
    assert compute_signature(TOKEN, TIMESTAMP, NONCE) == expected == SIGNATURE


def test_compute_signature_ignores_argument_order():
    assert compute_signature(NONCE, TOKEN, TIMESTAMP) == compute_signature(TOKEN, TIMESTAMP, NONCE)


def test_compute_signature_matches_official_msg_signatures():
    assert compute_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT) == MSG_SIGNATURE
    assert compute_signature(TOKEN, CPP_TIMESTAMP, CPP_NONCE, CPP_ENCRYPT) == CPP_MSG_SIGNATURE
    assert (
        compute_signature("AAAAA", "1713424427", "415670741", DOC_REPLY_CIPHER)
        == "03e0812039325c2712ef5f0f980fd14c70d6e307"
    )


def test_compute_signature_of_non_ascii_and_lone_surrogates_does_not_raise():
    assert len(compute_signature("令牌", "\ud800", "x")) == 40


def test_check_signature_accepts_the_official_get_example():
    check_signature(token=TOKEN, signature=SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE)


def test_check_signature_accepts_upper_case_hex():
    check_signature(token=TOKEN, signature=SIGNATURE.upper(), timestamp=TIMESTAMP, nonce=NONCE)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        SIGNATURE[:-1],
        SIGNATURE + "0",
        SIGNATURE[:-1] + "b",
        MSG_SIGNATURE,
        "签名" * 20,
        "\ud800" * 40,
        " " + SIGNATURE,
    ],
)
def test_check_signature_refuses_anything_else(signature):
    with pytest.raises(InvalidSignature) as caught:
        check_signature(token=TOKEN, signature=signature, timestamp=TIMESTAMP, nonce=NONCE)
    assert caught.value.status == 403
    assert caught.value.errcode == -40001
    assert type(caught.value) is InvalidSignature


def test_check_signature_refuses_another_token():
    with pytest.raises(InvalidSignature):
        check_signature(token="pamtest", signature=SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE)


def test_check_signature_refuses_values_shifted_between_timestamp_and_nonce():
    with pytest.raises(InvalidSignature):
        check_signature(
            token=TOKEN, signature=SIGNATURE, timestamp=TIMESTAMP + "1", nonce=NONCE[1:]
        )


def test_empty_token_is_not_configured_even_with_a_matching_signature():
    forged = compute_signature("", TIMESTAMP, NONCE)
    with pytest.raises(NotConfigured) as caught:
        check_signature(token="", signature=forged, timestamp=TIMESTAMP, nonce=NONCE)
    assert caught.value.status == 503
    forged = compute_signature("", TIMESTAMP, NONCE, ENCRYPT)
    with pytest.raises(NotConfigured):
        check_msg_signature(
            token="", msg_signature=forged, timestamp=TIMESTAMP, nonce=NONCE, encrypt=ENCRYPT
        )


def test_check_msg_signature_accepts_the_official_example():
    check_msg_signature(
        token=TOKEN, msg_signature=MSG_SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE, encrypt=ENCRYPT
    )


def test_check_msg_signature_refuses_the_plain_signature():
    # The classic mix-up: `signature` does not cover the ciphertext.
    with pytest.raises(InvalidMsgSignature) as caught:
        check_msg_signature(
            token=TOKEN, msg_signature=SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE, encrypt=ENCRYPT
        )
    assert isinstance(caught.value, InvalidSignature)
    assert caught.value.errcode == -40001
    assert caught.value.status == 403


def test_check_msg_signature_refuses_a_tampered_ciphertext():
    with pytest.raises(InvalidMsgSignature):
        check_msg_signature(
            token=TOKEN,
            msg_signature=MSG_SIGNATURE,
            timestamp=TIMESTAMP,
            nonce=NONCE,
            encrypt=ENCRYPT[:-2] + "A=",
        )


@pytest.mark.parametrize("offset", [0, -300, 300, -1, 1, 0.5])
def test_check_timestamp_accepts_the_window_both_ways_and_returns_the_int(offset):
    assert check_timestamp(timestamp=TIMESTAMP, now=NOW + offset, window=WINDOW) == 1409735669


@pytest.mark.parametrize("offset", [301, -301, 86400, -86400, 1409735669])
def test_check_timestamp_refuses_past_and_future_outside_the_window(offset):
    # now - timestamp = offset: positive is a timestamp in the past, negative one in the future.
    with pytest.raises(StaleTimestamp) as caught:
        check_timestamp(timestamp=TIMESTAMP, now=NOW + offset, window=WINDOW)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "timestamp",
    [
        "",
        " 1409735669",
        "1409735669 ",
        "+1409735669",
        "-1409735669",
        "1_409_735_669",
        "1409735669.0",
        "0x54000000",
        "١٤٠٩٧٣٥٦٦٩",  # Arabic-Indic digits: int() accepts them, WeChat never sends them
        "１４０９７３５６６９",  # full-width digits
        "1" * 13,
        "abc",
    ],
)
def test_check_timestamp_refuses_anything_but_plain_ascii_digits(timestamp):
    with pytest.raises(InvalidTimestamp) as caught:
        check_timestamp(timestamp=timestamp, now=NOW, window=WINDOW)
    assert caught.value.status == 400


def test_check_timestamp_accepts_leading_zeros_of_a_plain_integer():
    assert check_timestamp(timestamp="0" + TIMESTAMP, now=NOW, window=WINDOW) == 1409735669
