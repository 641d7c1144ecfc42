"""Tests for replies.protocol.crypto: published vectors, round trips, key rotation, bad input."""

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from replies.protocol.crypto import (
    decode_aes_key,
    decrypt_with_keys,
    encrypt_message,
)
from replies.protocol.exceptions import (
    AppIdMismatch,
    DecryptError,
    InvalidAESKey,
    InvalidBase64,
    InvalidLength,
    InvalidPadding,
    NotConfigured,
    WeChatError,
)
from tests.samples import decrypt_message

# WeChat's sample EncodingAESKey, used by all its official WXBizMsgCrypt samples.
SAMPLE_ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_KEY = base64.b64decode(SAMPLE_ENCODING_AES_KEY + "=")
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"

# Official Java sample (WXBizMsgCryptTest: token "pamtest", timestamp 1409304348, nonce
# "xxxxxx"): fixed random string, AppID wxb11529c136998cb6, and the ciphertexts it asserts.
JAVA_APP_ID = "wxb11529c136998cb6"
JAVA_RANDOM = b"aaaabbbbccccdddd"
JAVA_REPLY = "我是中文abcd123"
JAVA_CIPHER = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
JAVA_REPLY_2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName>"
    "<CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType>"
    "<Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]>"
    "</MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title>"
    "<Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
)
JAVA_CIPHER_2 = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkup"
    "qcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQ"
    "vFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ"
    "04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9"
    "OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGv"
    "DahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ"
    "9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwof"
    "Jb"
)

# Official Python sample (Sample.py: token "spamtest", timestamp 1409735669, nonce 1320562132).
PYTHON_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
PYTHON_PLAINTEXT = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    b"<CreateTime>1409735668</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[abcdteT]]></Content>\n"
    b"<MsgId>6054768590064713728</MsgId>\n"
    b"</xml>"
)

# Official C++ sample (Sample.cpp: token "spamtest", timestamp 1410349438, nonce 298025754).
CPP_ENCRYPT = (
    "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS"
    "8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDb"
    "OPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It"
    "+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjic"
    "bP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4="
)

# WeChat's documentation example for message push (43 "A"s, i.e. an all-zero key): the reply it
# encrypts with a fixed random string and the ciphertext it shows.
DOC_KEY = bytes(32)
DOC_APP_ID = "wx134c8103faa5a59e"
DOC_RANDOM = b"999951349e8ee746"
DOC_REPLY = b"<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>"
DOC_REPLY_CIPHER = (
    "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSv"
    "PT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
)

OTHER_KEY = bytes(range(32))
FIXED_PREFIX = b"0123456789abcdef"
XML = b"<xml><Content><![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd]]></Content></xml>"


def seal_raw(plaintext: bytes, key: bytes = SAMPLE_KEY) -> str:
    """Encrypt ``plaintext`` as is (no padding added), to build malformed messages."""
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


def open_raw(encrypt: str, key: bytes = SAMPLE_KEY) -> bytes:
    """Decrypt without removing anything, to look at the padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()


def aligned_body(app_id: bytes) -> bytes:
    """Return random + length + XML + AppID whose size is a multiple of 32 bytes."""
    xml = b"<xml>" + b"a" * (-(20 + 11 + len(app_id)) % 32) + b"</xml>"
    return FIXED_PREFIX + struct.pack(">I", len(xml)) + xml + app_id


def frame(xml: bytes, app_id: bytes, *, length: int | None = None, pad: bytes | None = None):
    """Build WeChat's plaintext layout by hand, with optional lies in the length or padding."""
    body = FIXED_PREFIX + struct.pack(">I", len(xml) if length is None else length) + xml + app_id
    if pad is None:
        n = 32 - len(body) % 32
        pad = bytes([n]) * n
    return body + pad


# --- decode_aes_key -------------------------------------------------------------------------


def test_decode_aes_key_returns_32_bytes_of_the_sample_key():
    assert decode_aes_key(SAMPLE_ENCODING_AES_KEY) == SAMPLE_KEY
    assert len(SAMPLE_KEY) == 32


def test_decode_aes_key_of_43_a_is_the_all_zero_key():
    assert decode_aes_key("A" * 43) == DOC_KEY


@pytest.mark.parametrize(
    "value",
    [
        "",
        SAMPLE_ENCODING_AES_KEY[:-1],
        SAMPLE_ENCODING_AES_KEY + "H",
        SAMPLE_ENCODING_AES_KEY[:-1] + "+",
        SAMPLE_ENCODING_AES_KEY[:-1] + "/",
        SAMPLE_ENCODING_AES_KEY[:-1] + "=",
        SAMPLE_ENCODING_AES_KEY[:-1] + "é",
        SAMPLE_ENCODING_AES_KEY[:-1] + "\n",
        " " + SAMPLE_ENCODING_AES_KEY[1:],
        None,
        SAMPLE_ENCODING_AES_KEY.encode(),
    ],
)
def test_decode_aes_key_refuses_anything_but_43_alphanumerics(value):
    with pytest.raises(InvalidAESKey) as caught:
        decode_aes_key(value)
    assert caught.value.status == 503
    assert caught.value.errcode == -40004


def test_invalid_aes_key_message_does_not_echo_the_key():
    secret = "Z" * 42 + "!"
    with pytest.raises(InvalidAESKey) as caught:
        decode_aes_key(secret)
    assert secret not in caught.value.message
    assert "Z" * 10 not in str(caught.value)


# --- published vectors --------------------------------------------------------------------


def test_encrypt_matches_official_java_sample_vector():
    encrypt = encrypt_message(
        xml=JAVA_REPLY.encode(), key=SAMPLE_KEY, app_id=JAVA_APP_ID, random_prefix=JAVA_RANDOM
    )
    assert encrypt == JAVA_CIPHER


def test_encrypt_matches_official_java_sample_vector_for_a_whole_reply():
    encrypt = encrypt_message(
        xml=JAVA_REPLY_2.encode(), key=SAMPLE_KEY, app_id=JAVA_APP_ID, random_prefix=JAVA_RANDOM
    )
    assert encrypt == JAVA_CIPHER_2


def test_decrypt_official_java_sample_vector():
    xml = decrypt_message(encrypt=JAVA_CIPHER, key=SAMPLE_KEY, app_id=JAVA_APP_ID)
    assert xml.decode() == JAVA_REPLY


def test_decrypt_official_python_sample_keeps_the_plaintext_byte_for_byte():
    xml = decrypt_message(encrypt=PYTHON_ENCRYPT, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    assert xml == PYTHON_PLAINTEXT


def test_decrypt_official_cpp_sample():
    xml = decrypt_message(encrypt=CPP_ENCRYPT, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    assert xml.startswith(b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>")
    assert b"<MsgId>6057404712141979648</MsgId>" in xml


def test_encrypt_matches_wechat_documentation_vector_with_all_zero_key():
    encrypt = encrypt_message(
        xml=DOC_REPLY, key=DOC_KEY, app_id=DOC_APP_ID, random_prefix=DOC_RANDOM
    )
    assert encrypt == DOC_REPLY_CIPHER


# --- round trips ---------------------------------------------------------------------------


def test_encrypt_equals_an_independent_manual_construction():
    expected = seal_raw(frame(XML, SAMPLE_APP_ID.encode()))
    encrypt = encrypt_message(
        xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID, random_prefix=FIXED_PREFIX
    )
    assert encrypt == expected


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 43, 44, 45, 1000, 4096])
def test_decrypt_returns_what_encrypt_was_given(size):
    xml = "好".encode() * size
    encrypt = encrypt_message(xml=xml, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    assert decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID) == xml


def test_encrypt_uses_a_fresh_random_prefix_each_time():
    first = encrypt_message(xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    second = encrypt_message(xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    assert first != second


def test_encrypt_with_fixed_prefix_is_deterministic():
    first = encrypt_message(
        xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID, random_prefix=FIXED_PREFIX
    )
    second = encrypt_message(
        xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID, random_prefix=FIXED_PREFIX
    )
    assert first == second


def test_encrypt_adds_a_whole_32_byte_block_of_padding_when_already_aligned():
    app_id = SAMPLE_APP_ID.encode()
    xml = b"<xml>" + b"a" * (64 - 20 - len(app_id) - 11) + b"</xml>"
    assert (20 + len(xml) + len(app_id)) % 32 == 0
    encrypt = encrypt_message(
        xml=xml, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID, random_prefix=FIXED_PREFIX
    )
    plaintext = open_raw(encrypt)
    assert len(plaintext) == 64 + 32
    assert plaintext[-32:] == bytes([32]) * 32
    assert decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID) == xml


def test_encrypt_pads_to_a_multiple_of_32_not_16():
    for size in range(40):
        encrypt = encrypt_message(xml=b"x" * size, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
        plaintext = open_raw(encrypt)
        assert len(plaintext) % 32 == 0
        assert 1 <= plaintext[-1] <= 32


def test_encrypt_refuses_a_random_prefix_of_the_wrong_size():
    with pytest.raises(ValueError):
        encrypt_message(xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID, random_prefix=b"short")


# --- key rotation --------------------------------------------------------------------------


def test_decrypt_with_keys_uses_the_current_key_first():
    encrypt = encrypt_message(xml=XML, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    xml, key = decrypt_with_keys(
        encrypt=encrypt, keys=(SAMPLE_KEY, OTHER_KEY), app_id=SAMPLE_APP_ID
    )
    assert (xml, key) == (XML, SAMPLE_KEY)


def test_decrypt_with_keys_falls_back_to_the_previous_key_and_says_so():
    encrypt = encrypt_message(xml=XML, key=OTHER_KEY, app_id=SAMPLE_APP_ID)
    xml, key = decrypt_with_keys(
        encrypt=encrypt, keys=(SAMPLE_KEY, OTHER_KEY), app_id=SAMPLE_APP_ID
    )
    assert (xml, key) == (XML, OTHER_KEY)


def test_decrypt_with_keys_raises_the_error_of_the_first_key_when_none_works():
    # OTHER_KEY decrypts it but the AppID is wrong (AppIdMismatch); SAMPLE_KEY yields garbage
    # with a bad padding. Whichever key comes first decides the error.
    encrypt = encrypt_message(
        xml=XML, key=OTHER_KEY, app_id="wxsomebodyelse", random_prefix=FIXED_PREFIX
    )
    with pytest.raises(DecryptError) as caught:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    garbage_error = type(caught.value)
    assert garbage_error is not AppIdMismatch

    with pytest.raises(garbage_error):
        decrypt_with_keys(encrypt=encrypt, keys=(SAMPLE_KEY, OTHER_KEY), app_id=SAMPLE_APP_ID)
    with pytest.raises(AppIdMismatch):
        decrypt_with_keys(encrypt=encrypt, keys=(OTHER_KEY, SAMPLE_KEY), app_id=SAMPLE_APP_ID)


def test_decrypt_with_no_keys_is_not_configured():
    with pytest.raises(NotConfigured):
        decrypt_with_keys(encrypt=JAVA_CIPHER, keys=(), app_id=JAVA_APP_ID)


def test_decrypt_with_keys_refuses_a_malformed_key_as_configuration_error():
    with pytest.raises(InvalidAESKey):
        decrypt_with_keys(encrypt=JAVA_CIPHER, keys=(SAMPLE_KEY, b"short"), app_id=JAVA_APP_ID)


def test_decrypt_with_keys_reports_bad_base64_once_whatever_the_keys():
    with pytest.raises(InvalidBase64):
        decrypt_with_keys(encrypt="%%%%", keys=(SAMPLE_KEY, OTHER_KEY), app_id=SAMPLE_APP_ID)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encrypt",
    [
        "!!!not-base64!!!",
        "abc",  # wrong padding
        "YWJj=",  # stray padding
        "=YWJj",  # leading padding
        "YWI==",  # excess padding
        JAVA_CIPHER[:-2] + "\n==",  # whitespace is not tolerated
        JAVA_CIPHER.replace("+", "-"),  # URL-safe alphabet is not WeChat's
        "中文" * 10,
        "\ud800" * 8,
    ],
)
def test_decrypt_refuses_invalid_base64(encrypt):
    with pytest.raises(InvalidBase64) as caught:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=JAVA_APP_ID)
    assert caught.value.errcode == -40010
    assert caught.value.status == 400


def test_decrypt_refuses_a_non_string():
    with pytest.raises(InvalidBase64):
        decrypt_message(encrypt=None, key=SAMPLE_KEY, app_id=JAVA_APP_ID)


@pytest.mark.parametrize("size", [0, 15, 16, 33, 47, 63])
def test_decrypt_refuses_ciphertext_that_is_empty_short_or_not_a_multiple_of_16(size):
    encrypt = base64.b64encode(bytes(size)).decode()
    with pytest.raises(InvalidLength) as caught:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    assert caught.value.errcode == -40008


@pytest.mark.parametrize(
    "pad",
    [
        bytes([0]) * 32,  # 0 is never a padding value
        bytes([7]) * 31 + bytes([33]),  # larger than the 32-byte block
        bytes([7]) * 31 + bytes([255]),
        bytes([7]) * 29 + bytes([1, 2, 3]),  # says 3 but the bytes before are not 3
        bytes([9]) * 16 + bytes([32]) * 16,  # says 32 but only 16 bytes are 32
    ],
)
def test_decrypt_refuses_bad_padding(pad):
    body = aligned_body(b"wx1234567")
    assert decrypt_message(
        encrypt=seal_raw(body + bytes([32]) * 32), key=SAMPLE_KEY, app_id="wx1234567"
    )
    encrypt = seal_raw(body + pad)
    with pytest.raises(InvalidPadding) as caught:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id="wx1234567")
    assert caught.value.errcode == -40007


def test_decrypt_refuses_padding_that_would_leave_no_header():
    # One block that is entirely padding: nothing left for random bytes and length.
    encrypt = seal_raw(bytes([32]) * 32)
    with pytest.raises(InvalidLength):
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)


@pytest.mark.parametrize("length", [7, 100, 2**31, 2**32 - 1])
def test_decrypt_refuses_a_length_field_that_points_past_the_end(length):
    encrypt = seal_raw(frame(b"<xml/>", b"", length=length))
    with pytest.raises(InvalidLength) as caught:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id="wx1")
    assert caught.value.errcode == -40008


def test_decrypt_refuses_a_length_field_that_swallows_the_app_id():
    encrypt = seal_raw(frame(b"<xml/>", b"wx1234567", length=len(b"<xml/>wx1234567")))
    with pytest.raises(AppIdMismatch):
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id="wx1234567")


@pytest.mark.parametrize(
    "app_id", ["wx0000000000000000", "wxb11529c136998cb", "wxb11529c136998cb6x"]
)
def test_decrypt_refuses_a_message_for_another_app_id(app_id):
    with pytest.raises(AppIdMismatch) as caught:
        decrypt_message(encrypt=JAVA_CIPHER, key=SAMPLE_KEY, app_id=app_id)
    assert caught.value.errcode == -40005
    assert caught.value.status == 403


def test_decrypt_with_empty_app_id_is_not_configured():
    # An empty AppID would match every message: refuse to pretend it was checked.
    with pytest.raises(NotConfigured):
        decrypt_message(encrypt=JAVA_CIPHER, key=SAMPLE_KEY, app_id="")


def test_encrypt_with_empty_app_id_is_not_configured():
    with pytest.raises(NotConfigured):
        encrypt_message(xml=XML, key=SAMPLE_KEY, app_id="")


@pytest.mark.parametrize("key", [b"", b"x" * 16, b"x" * 31, b"x" * 33, "k" * 32])
def test_wrong_size_keys_are_a_configuration_error(key):
    with pytest.raises(InvalidAESKey):
        decrypt_message(encrypt=JAVA_CIPHER, key=key, app_id=JAVA_APP_ID)
    with pytest.raises(InvalidAESKey):
        encrypt_message(xml=XML, key=key, app_id=JAVA_APP_ID)


def test_decrypting_with_the_wrong_key_is_a_decrypt_error():
    with pytest.raises(DecryptError):
        decrypt_message(encrypt=JAVA_CIPHER, key=OTHER_KEY, app_id=JAVA_APP_ID)


def test_decrypt_error_subclasses_carry_wechat_errcodes():
    assert issubclass(InvalidBase64, DecryptError)
    assert issubclass(InvalidPadding, DecryptError)
    assert issubclass(InvalidLength, DecryptError)
    assert issubclass(AppIdMismatch, DecryptError)
    assert DecryptError.errcode == -40007


# --- only our exceptions escape ------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decrypt_of_any_text_raises_only_wechat_errors(encrypt):
    try:
        decrypt_message(encrypt=encrypt, key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)
    except WeChatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decrypt_of_any_base64_raises_only_wechat_errors(data):
    try:
        decrypt_message(encrypt=base64.b64encode(data).decode(), key=SAMPLE_KEY, app_id="wx1")
    except WeChatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=160))
def test_decrypt_of_any_plaintext_raises_only_wechat_errors_or_returns_bytes(plaintext):
    # The attacker controls padding and length fields through the plaintext: pad it only to
    # the AES block so every field is whatever hypothesis chose.
    padded = plaintext + bytes(-len(plaintext) % 16)
    try:
        result = decrypt_message(encrypt=seal_raw(padded), key=SAMPLE_KEY, app_id="wx1")
    except WeChatError:
        return
    assert isinstance(result, bytes)
