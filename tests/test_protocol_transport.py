"""Tests for replies.protocol.transport: URL verification, opening requests, sealing replies."""

import base64

import pytest

from replies.protocol import exceptions
from replies.protocol.crypto import encrypt_message
from replies.protocol.exceptions import (
    DecryptError,
    InvalidMsgSignature,
    InvalidParameter,
    InvalidSignature,
    InvalidTimestamp,
    InvalidXML,
    MissingField,
    MissingParameter,
    NotConfigured,
    StaleTimestamp,
    WeChatError,
)
from replies.protocol.messages import parse_xml
from replies.protocol.replies import TextReply, render_reply
from replies.protocol.signature import check_msg_signature, compute_signature
from replies.protocol.transport import (
    Credentials,
    OpenedRequest,
    open_request,
    seal_reply,
    verify_url,
)
from tests.samples import decrypt_message

SAMPLE_KEY = base64.b64decode("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=")
PREVIOUS_KEY = bytes(range(32))
APP_ID = "wx2c2769f8efd9abc2"
TOKEN = "spamtest"
CREDENTIALS = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(SAMPLE_KEY, PREVIOUS_KEY))
PLAIN_ONLY = Credentials(token=TOKEN)
WINDOW = 300

# Official Python sample (Sample.py): a compatible-mode request, clear fields plus Encrypt.
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_BODY = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>"
    b"<CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    b"<Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId>"
    b"<Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87"
    b"wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWy"
    b"WNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMr"
    b"CVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+"
    b"C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
    b"]]></Encrypt></xml>"
)
SAMPLE_PLAINTEXT = (
    b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    b"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    b"<CreateTime>1409735668</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[abcdteT]]></Content>\n"
    b"<MsgId>6054768590064713728</MsgId>\n"
    b"</xml>"
)

# WeChat's documentation example of a safe-mode push (token "AAAAA", key of 43 "A"s).
DOC_CREDENTIALS = Credentials(token="AAAAA", app_id="wx134c8103faa5a59e", aes_keys=(bytes(32),))
DOC_QUERY = {
    "signature": "not-checked-in-safe-mode",
    "timestamp": "1715943329",
    "nonce": "1590219412",
    "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
    "encrypt_type": "aes",
    "msg_signature": "6c12a4205838198b8fa631b3220723bb07f1015c",
}
DOC_BODY = (
    b"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA["
    b"D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4Vtsdv"
    b"E//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5Dk"
    b"yuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyf"
    b"bDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4F"
    b"UL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZ"
    b"INmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==]]></Encrypt></xml>"
)

NOW = 1_700_000_000
TIMESTAMP = str(NOW)
NONCE = "987654321"
MESSAGE = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    "<FromUserName><![CDATA[oUser]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[你好]]></Content><MsgId>1</MsgId></xml>"
).encode()


def plain_query(timestamp=TIMESTAMP, nonce=NONCE, token=TOKEN, **extra):
    query = {
        "signature": compute_signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": "oUser",
    }
    query.update(extra)
    return query


def encrypted_request(xml=MESSAGE, *, key=SAMPLE_KEY, compat=False, timestamp=TIMESTAMP):
    encrypt = encrypt_message(xml=xml, key=key, app_id=APP_ID)
    query = plain_query(
        timestamp=timestamp,
        encrypt_type="aes",
        msg_signature=compute_signature(TOKEN, timestamp, NONCE, encrypt),
    )
    if compat:  # the message's own fields travel in clear next to Encrypt
        clear = xml[len(b"<xml>") : -len(b"</xml>")]
    else:
        clear = b"<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    body = b"<xml>" + clear + b"<Encrypt><![CDATA[" + encrypt.encode() + b"]]></Encrypt></xml>"
    return query, body


def open_(query, body, credentials=CREDENTIALS, now=NOW):
    return open_request(query=query, body=body, credentials=credentials, now=now, window=WINDOW)


# --- URL verification ----------------------------------------------------------------------------


def verify_query(**overrides):
    query = {**plain_query(), "echostr": "4075181314397890557"}
    query.update(overrides)
    return {name: value for name, value in query.items() if value is not None}


def test_verify_url_returns_echostr_unchanged():
    result = verify_url(query=verify_query(), credentials=PLAIN_ONLY, now=NOW, window=WINDOW)
    assert result == "4075181314397890557"


def test_verify_url_accepts_the_official_sample_signature():
    query = {
        "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
        "timestamp": SAMPLE_TIMESTAMP,
        "nonce": SAMPLE_NONCE,
        "echostr": "shr5ch",
    }
    assert verify_url(query=query, credentials=CREDENTIALS, now=1409735669, window=WINDOW) == (
        "shr5ch"
    )


@pytest.mark.parametrize("name", ["signature", "timestamp", "nonce", "echostr"])
def test_verify_url_names_a_missing_parameter(name):
    with pytest.raises(MissingParameter) as caught:
        verify_url(query=verify_query(**{name: None}), credentials=PLAIN_ONLY, now=NOW, window=300)
    assert name in caught.value.message
    assert caught.value.status == 400


@pytest.mark.parametrize("name", ["nonce", "echostr"])
def test_verify_url_refuses_an_empty_nonce_or_echostr(name):
    with pytest.raises(MissingParameter):
        verify_url(query=verify_query(**{name: ""}), credentials=PLAIN_ONLY, now=NOW, window=300)


def test_verify_url_refuses_a_bad_signature():
    query = verify_query(signature="0" * 40)
    with pytest.raises(InvalidSignature):
        verify_url(query=query, credentials=PLAIN_ONLY, now=NOW, window=WINDOW)


@pytest.mark.parametrize("offset", [WINDOW + 1, -(WINDOW + 1)])
def test_verify_url_refuses_stale_and_future_timestamps(offset):
    timestamp = str(NOW - offset)
    query = {**plain_query(timestamp=timestamp), "echostr": "x"}
    with pytest.raises(StaleTimestamp):
        verify_url(query=query, credentials=PLAIN_ONLY, now=NOW, window=WINDOW)


def test_verify_url_refuses_a_malformed_timestamp_before_the_signature():
    query = verify_query(timestamp="17e8", signature="garbage")
    with pytest.raises(InvalidTimestamp):
        verify_url(query=query, credentials=PLAIN_ONLY, now=NOW, window=WINDOW)


def test_verify_url_with_empty_token_is_not_configured():
    query = {**plain_query(token=""), "echostr": "x"}
    with pytest.raises(NotConfigured):
        verify_url(query=query, credentials=Credentials(token=""), now=NOW, window=WINDOW)


# --- plain mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encrypt_type", [None, "raw", "RAW"])
def test_plain_request_opens(encrypt_type):
    query = plain_query() if encrypt_type is None else plain_query(encrypt_type=encrypt_type)
    opened = open_(query, MESSAGE)
    assert opened.mode == "plain"
    assert opened.message.content == "你好"
    assert opened.message.from_user == "oUser"
    assert opened.raw_text == MESSAGE.decode()
    assert opened.xml == MESSAGE
    assert opened.aes_key is None
    assert opened.decrypted_text == ""
    assert (opened.timestamp, opened.nonce) == (NOW, NONCE)


@pytest.mark.parametrize("name", ["signature", "timestamp", "nonce"])
def test_plain_request_names_a_missing_parameter(name):
    query = plain_query()
    del query[name]
    with pytest.raises(MissingParameter) as caught:
        open_(query, MESSAGE)
    assert name in caught.value.message


def test_plain_request_refuses_an_empty_nonce():
    with pytest.raises(MissingParameter):
        open_(plain_query(nonce=""), MESSAGE)


def test_plain_request_refuses_a_bad_signature():
    query = plain_query()
    query["signature"] = compute_signature("another-token", TIMESTAMP, NONCE)
    with pytest.raises(InvalidSignature):
        open_(query, MESSAGE)


def test_plain_request_refuses_a_msg_signature_in_place_of_signature():
    query = plain_query()
    query["signature"] = compute_signature(TOKEN, TIMESTAMP, NONCE, "some-ciphertext")
    with pytest.raises(InvalidSignature):
        open_(query, MESSAGE)


@pytest.mark.parametrize("offset", [WINDOW + 1, -(WINDOW + 1)])
def test_plain_request_refuses_stale_and_future_timestamps(offset):
    with pytest.raises(StaleTimestamp):
        open_(plain_query(timestamp=str(NOW - offset)), MESSAGE)


def test_stale_timestamp_is_refused_before_the_body_is_read():
    with pytest.raises(StaleTimestamp):
        open_(plain_query(timestamp=str(NOW - 10_000)), b"<!DOCTYPE x><not xml")


def test_bad_signature_is_refused_before_the_body_is_read():
    query = plain_query()
    query["signature"] = "0" * 40
    with pytest.raises(InvalidSignature):
        open_(query, b"\xff\xfe not even utf-8")


def test_signed_plain_request_with_bad_body_is_invalid_xml():
    with pytest.raises(InvalidXML):
        open_(plain_query(), b"<xml><Content>")


def test_plain_request_with_empty_token_is_not_configured():
    with pytest.raises(NotConfigured):
        open_(plain_query(token=""), MESSAGE, credentials=Credentials(token=""))


def test_unknown_encrypt_type_is_a_clear_400():
    with pytest.raises(InvalidParameter) as caught:
        open_(plain_query(encrypt_type="des"), MESSAGE)
    assert "encrypt_type" in caught.value.message
    assert caught.value.status == 400


# --- compatible and safe mode --------------------------------------------------------------------


def test_official_compatible_mode_sample_opens():
    query = {
        "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
        "timestamp": SAMPLE_TIMESTAMP,
        "nonce": SAMPLE_NONCE,
        "encrypt_type": "aes",
        "msg_signature": SAMPLE_MSG_SIGNATURE,
    }
    opened = open_(query, SAMPLE_BODY, now=1409735669)
    assert opened.mode == "compat"
    assert opened.xml == SAMPLE_PLAINTEXT
    assert opened.decrypted_text == SAMPLE_PLAINTEXT.decode()
    assert opened.raw_text == SAMPLE_BODY.decode()
    assert opened.aes_key == SAMPLE_KEY
    assert opened.message.content == "abcdteT"
    assert opened.message.msg_id == "6054768590064713728"
    assert opened.message.to_user == "gh_10f6c3c3ac5a"


def test_official_safe_mode_documentation_sample_opens():
    opened = open_request(
        query=DOC_QUERY, body=DOC_BODY, credentials=DOC_CREDENTIALS, now=1715943329, window=300
    )
    assert opened.mode == "aes"
    assert opened.message.msg_type == "event"
    assert opened.message.event == "debug_demo"
    assert opened.message.fields["debug_str"] == "hello world"
    assert len(opened.xml) == 292


def test_safe_mode_request_opens():
    query, body = encrypted_request()
    opened = open_(query, body)
    assert opened.mode == "aes"
    assert opened.xml == MESSAGE
    assert opened.message.content == "你好"
    assert opened.aes_key == SAMPLE_KEY
    assert opened.raw_text == body.decode()


def test_compatible_mode_is_detected_by_clear_msg_type():
    query, body = encrypted_request(compat=True)
    assert b"<MsgType>" in body
    assert open_(query, body).mode == "compat"


def test_compatible_mode_uses_the_decrypted_copy_not_the_unsigned_clear_one():
    query, body = encrypted_request(compat=True)
    forged = body.replace("你好".encode(), b"forged", 1)
    assert forged != body
    assert open_(query, forged).message.content == "你好"


def test_encrypted_request_needs_msg_signature():
    query, body = encrypted_request()
    del query["msg_signature"]
    with pytest.raises(MissingParameter) as caught:
        open_(query, body)
    assert "msg_signature" in caught.value.message


def test_encrypted_request_refuses_signature_in_place_of_msg_signature():
    query, body = encrypted_request()
    query["msg_signature"] = query["signature"]
    with pytest.raises(InvalidMsgSignature):
        open_(query, body)


def test_encrypted_request_refuses_a_tampered_ciphertext():
    query, body = encrypted_request()
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[AAAA")
    with pytest.raises(InvalidMsgSignature):
        open_(query, tampered)


def test_encrypted_request_without_encrypt_is_missing_field():
    query, _ = encrypted_request()
    with pytest.raises(MissingField) as caught:
        open_(query, MESSAGE)
    assert "Encrypt" in caught.value.message


def test_encrypted_request_with_nested_encrypt_is_missing_field():
    query, _ = encrypted_request()
    with pytest.raises(MissingField):
        open_(query, b"<xml><Encrypt><a>1</a></Encrypt></xml>")


def test_signed_but_undecryptable_request_is_a_decrypt_error():
    # Signed with the right token, encrypted with a key we do not have.
    query, body = encrypted_request(key=bytes([7]) * 32)
    with pytest.raises(DecryptError):
        open_(query, body)


def test_encrypted_request_with_previous_key_opens_and_remembers_that_key():
    query, body = encrypted_request(key=PREVIOUS_KEY)
    opened = open_(query, body)
    assert opened.aes_key == PREVIOUS_KEY
    assert opened.message.content == "你好"


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials(token=TOKEN),
        Credentials(token=TOKEN, app_id=APP_ID),
        Credentials(token=TOKEN, aes_keys=(SAMPLE_KEY,)),
    ],
)
def test_encrypted_request_without_keys_or_app_id_is_not_configured(credentials):
    query, _ = encrypted_request()
    with pytest.raises(NotConfigured) as caught:
        open_(query, b"garbage that is never parsed", credentials=credentials)
    assert caught.value.status == 503


def test_encrypted_request_with_stale_timestamp_is_refused_first():
    query, body = encrypted_request(timestamp=str(NOW - 10_000))
    with pytest.raises(StaleTimestamp):
        open_(query, body)


def test_encrypted_request_with_undecodable_inner_xml_is_invalid():
    query, body = encrypted_request(xml=b"<xml><a>\xff</a></xml>")
    with pytest.raises(exceptions.InvalidEncoding):
        open_(query, body)


# --- sealing replies -----------------------------------------------------------------------------

REPLY_TIMESTAMP = "1700000001"
REPLY_NONCE = "555"


def seal(reply_xml, opened, credentials=CREDENTIALS):
    return seal_reply(
        reply_xml=reply_xml,
        opened=opened,
        credentials=credentials,
        timestamp=REPLY_TIMESTAMP,
        nonce=REPLY_NONCE,
    )


def reply_to(opened):
    message = opened.message
    return render_reply(
        TextReply(content="收到 ]]> <&"),
        to_user=message.from_user,
        from_user=message.to_user,
        create_time=NOW,
        in_reply_to=message.msg_type,
    )


def test_plain_reply_is_unchanged():
    opened = open_(plain_query(), MESSAGE)
    reply_xml = reply_to(opened)
    assert seal(reply_xml, opened) is reply_xml


@pytest.mark.parametrize("compat", [False, True])
def test_encrypted_reply_decrypts_back_and_its_msg_signature_verifies(compat):
    opened = open_(*encrypted_request(compat=compat))
    reply_xml = reply_to(opened)
    envelope = parse_xml(seal(reply_xml, opened))
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert (envelope["TimeStamp"], envelope["Nonce"]) == (REPLY_TIMESTAMP, REPLY_NONCE)
    check_msg_signature(
        token=TOKEN,
        msg_signature=envelope["MsgSignature"],
        timestamp=REPLY_TIMESTAMP,
        nonce=REPLY_NONCE,
        encrypt=envelope["Encrypt"],
    )
    assert decrypt_message(encrypt=envelope["Encrypt"], key=SAMPLE_KEY, app_id=APP_ID) == reply_xml
    assert parse_xml(reply_xml)["Content"] == "收到 ]]> <&"


def test_reply_is_encrypted_with_the_key_that_opened_the_request():
    opened = open_(*encrypted_request(key=PREVIOUS_KEY))
    envelope = parse_xml(seal(b"<xml>r</xml>", opened))
    assert decrypt_message(encrypt=envelope["Encrypt"], key=PREVIOUS_KEY, app_id=APP_ID) == (
        b"<xml>r</xml>"
    )
    with pytest.raises(DecryptError):
        decrypt_message(encrypt=envelope["Encrypt"], key=SAMPLE_KEY, app_id=APP_ID)


@pytest.mark.parametrize("mode", ["plain", "aes", "compat"])
@pytest.mark.parametrize("nothing", [b"success", b""])
def test_no_reply_passes_through_in_every_mode(mode, nothing):
    if mode == "plain":
        opened = open_(plain_query(), MESSAGE)
    else:
        opened = open_(*encrypted_request(compat=mode == "compat"))
    assert opened.mode == mode
    assert seal(nothing, opened) == nothing


def test_sealing_an_encrypted_reply_without_a_key_is_not_configured():
    opened = open_(*encrypted_request())
    broken = OpenedRequest(
        mode="aes",
        raw_text=opened.raw_text,
        xml=opened.xml,
        message=opened.message,
        aes_key=None,
        timestamp=opened.timestamp,
        nonce=opened.nonce,
    )
    with pytest.raises(NotConfigured):
        seal(b"<xml>r</xml>", broken)


# --- secrets and error contract ------------------------------------------------------------------


def test_credentials_repr_hides_token_and_keys():
    text = repr(Credentials(token="very-secret-token", app_id=APP_ID, aes_keys=(SAMPLE_KEY,)))
    assert "very-secret-token" not in text
    assert repr(SAMPLE_KEY) not in text
    assert APP_ID in text


def test_opened_request_repr_hides_the_key():
    opened = open_(*encrypted_request())
    assert repr(SAMPLE_KEY) not in repr(opened)


ERRORS = [
    cls
    for cls in vars(exceptions).values()
    if isinstance(cls, type) and issubclass(cls, WeChatError)
]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_has_a_code_status_errcode_and_a_safe_message(cls):
    error = cls()
    assert error.message == cls.default_message == str(error)
    assert error.code.islower() and " " not in error.code
    assert error.status in (400, 403, 413, 503)
    assert isinstance(error.errcode, int) and error.errcode <= -40000
    assert cls("custom").message == "custom"


def test_error_codes_are_unique():
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("name", "status", "errcode"),
    [
        ("MissingParameter", 400, None),
        ("InvalidTimestamp", 400, None),
        ("StaleTimestamp", 403, None),
        ("InvalidSignature", 403, -40001),
        ("InvalidMsgSignature", 403, -40001),
        ("BodyTooLarge", 413, None),
        ("InvalidEncoding", 400, None),
        ("InvalidXML", 400, -40002),
        ("ForbiddenXML", 400, -40002),
        ("MissingField", 400, None),
        ("InvalidField", 400, None),
        ("DecryptError", 400, -40007),
        ("InvalidBase64", 400, -40010),
        ("InvalidPadding", 400, -40007),
        ("InvalidLength", 400, -40008),
        ("AppIdMismatch", 403, -40005),
        ("InvalidAESKey", 503, -40004),
        ("NotConfigured", 503, None),
    ],
)
def test_documented_statuses_and_errcodes(name, status, errcode):
    cls = getattr(exceptions, name)
    assert cls.status == status
    if errcode is not None:
        assert cls.errcode == errcode
