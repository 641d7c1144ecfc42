"""Fuzzing: whatever arrives, only our own WeChatError comes out of the protocol, and no 500
comes out of the endpoint.

hypothesis drives the parser (random bytes, random XML trees, mutated real messages), the
decryptor (random text, random ciphertexts, broken frames), open_request (random queries and
bodies, signed and unsigned) and the whole view through Django's test client. Each test has a
fixed example budget so the module takes ~10-20 s in CI. A short atheris run (coverage-guided,
libFuzzer, fixed seed) does the same for the protocol in a subprocess when atheris is installed.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from replies.protocol import (
    Credentials,
    DecryptError,
    TextReply,
    WeChatError,
    compute_signature,
    decode_aes_key,
    decrypt_with_keys,
    encrypt_message,
    message_from_fields,
    open_request,
    parse_message,
    parse_xml,
    pretty_print_xml,
    render_reply,
)
from replies.protocol.client import build_message_xml
from replies.protocol.messages import MAX_DEPTH
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, OLD_AES_KEY, TOKEN
from tests.samples import decrypt_message

ROOT = Path(__file__).resolve().parent.parent
KEY = decode_aes_key(AES_KEY)
OLD_KEY = decode_aes_key(OLD_AES_KEY)
CREDENTIALS = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(KEY, OLD_KEY))

FAST = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VIEW = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies -----------------------------------------------------------------------------------

# Characters XML 1.0 allows in text, minus \r (which the XML spec turns into \n on reading).
xml_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"
) | st.sampled_from("\t\n")
xml_text = st.text(xml_chars, max_size=40) | st.sampled_from(
    ["", " ", "]]>", "<![CDATA[", "&amp;", "<xml>", "价格", "😀", "a]]>b", "\n\n"]
)
tag_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True).filter(
    lambda name: not name.lower().startswith("xml")
) | st.sampled_from(["Content", "MsgType", "item", "Event", "MsgId", "EventKey"])

# A tree is (tag, text) for a leaf or (tag, [children]) for an element with children.
trees = st.recursive(
    st.tuples(tag_names, xml_text),
    lambda children: st.tuples(tag_names, st.lists(children, min_size=1, max_size=4)),
    max_leaves=25,
)


def depth_of(tree) -> int:
    tag, value = tree
    return (
        1 + max((depth_of(child) for child in value), default=0) if isinstance(value, list) else 1
    )


def expected_value(tree):
    """What parse_xml returns for `tree`: the text of a leaf, a dict for an element."""
    _, value = tree
    if not isinstance(value, list):
        return value
    result: dict = {}
    for child in value:
        tag, child_value = child[0], expected_value(child)
        if tag not in result:
            result[tag] = child_value
        elif isinstance(result[tag], list):
            result[tag].append(child_value)
        else:
            result[tag] = [result[tag], child_value]
    return result


def to_element(tree, parent, use_cdata: bool) -> None:
    tag, value = tree
    element = etree.SubElement(parent, tag)
    if isinstance(value, list):
        for child in value:
            to_element(child, element, use_cdata)
    elif value:
        element.text = etree.CDATA(value) if use_cdata and "]]>" not in value else value


def serialize(children, *, use_cdata: bool, declaration: bool, pretty: bool) -> bytes:
    root = etree.Element("xml")
    for child in children:
        to_element(child, root, use_cdata)
    return etree.tostring(root, encoding="utf-8", xml_declaration=declaration, pretty_print=pretty)


def only_our_errors(call, *args, **kwargs):
    """Run `call`; return its result or the WeChatError it raised. Anything else fails."""
    try:
        return call(*args, **kwargs)
    except WeChatError as error:
        assert error.message and 400 <= error.status < 600
        return error


def sample_message() -> bytes:
    return build_message_xml(
        msg_type="event",
        from_user="o1",
        to_user=ACCOUNT,
        create_time=1_700_000_000,
        Event="pic_sysphoto",
        EventKey="k",
        SendPicsInfo={"Count": 2, "PicList": [{"PicMd5Sum": "a"}, {"PicMd5Sum": "b"}]},
    )


# --- the parser ---------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_parse_or_raise_our_error(body):
    only_our_errors(parse_message, body)


@settings(FAST, max_examples=400)
@given(
    st.lists(trees, max_size=6),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_any_xml_tree_parses_back_to_its_values_or_is_refused_for_depth(
    children, use_cdata, declaration, pretty
):
    body = serialize(children, use_cdata=use_cdata, declaration=declaration, pretty=pretty)
    deepest = 1 + max((depth_of(child) for child in children), default=0)
    if deepest > MAX_DEPTH:
        result = only_our_errors(parse_xml, body)
        assert isinstance(result, WeChatError), "a tree deeper than MAX_DEPTH is refused"
        return
    # Indentation (pretty) only adds text to elements with children, which parse_xml ignores.
    assert parse_xml(body) == expected_value(("xml", list(children)))


@FAST
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.binary(min_size=0, max_size=8)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_real_messages_parse_or_raise_our_error(edits):
    body = bytearray(sample_message())
    for position, replacement in edits:
        position %= len(body) + 1
        body[position : position + len(replacement) // 2] = replacement
    only_our_errors(parse_message, bytes(body))


fields_values = st.recursive(
    xml_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tag_names, inner, max_size=3),
    max_leaves=8,
)


@settings(FAST, max_examples=400)
@given(
    st.dictionaries(
        st.sampled_from(
            ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "MsgId", "MsgID"]
        )
        | tag_names,
        fields_values,
        max_size=8,
    )
)
def test_message_from_any_fields_or_our_error(fields):
    message = only_our_errors(message_from_fields, fields)
    if not isinstance(message, WeChatError):
        # Every accessor copes with whatever shape the field had.
        for name in ("content", "media_id", "label", "event_key", "text", "scene", "latitude"):
            assert isinstance(getattr(message, name), str)


@FAST
@given(st.binary(max_size=1000) | st.text(max_size=300))
def test_pretty_printing_a_stored_body_never_raises(body):
    assert isinstance(pretty_print_xml(body), str)


@FAST
@given(st.text(max_size=300))
def test_any_reply_text_renders_and_reads_back(text):
    """`]]>`, emoji, newlines survive; what XML cannot carry (NUL, lone surrogates, U+FFFE)
    is dropped instead of failing the answer."""
    xml = render_reply(
        TextReply(text), to_user="o", from_user=ACCOUNT, create_time=1, in_reply_to="text"
    )
    content = parse_xml(xml)["Content"]
    if all(c in "\t\n" or (c >= " " and c not in "\ufffe\uffff") for c in text) and not any(
        "\ud800" <= c <= "\udfff" for c in text
    ):
        assert content == text


# --- the decryptor ------------------------------------------------------------------------------


def raw_encrypt(plaintext: bytes, key: bytes = KEY) -> str:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


@FAST
@given(st.text(max_size=300))
def test_random_text_as_ciphertext_raises_a_decrypt_error(encrypt):
    try:
        decrypt_message(encrypt=encrypt, key=KEY, app_id=APP_ID)
    except DecryptError:
        return
    pytest.fail("random text decrypted")


@FAST
@given(
    st.integers(min_value=0, max_value=12).flatmap(
        lambda n: st.binary(min_size=16 * n, max_size=16 * n)
    )
)
def test_random_ciphertext_of_any_block_count_raises_a_decrypt_error(ciphertext):
    encrypt = base64.b64encode(ciphertext).decode()
    result = only_our_errors(decrypt_with_keys, encrypt=encrypt, keys=(KEY, OLD_KEY), app_id=APP_ID)
    # 2^-100-ish odds that random bytes carry a valid frame with our AppID.
    assert isinstance(result, DecryptError)


@FAST
@given(
    st.binary(max_size=40),
    st.integers(min_value=0, max_value=2**32 - 1) | st.integers(min_value=0, max_value=64),
    st.binary(max_size=80),
    st.sampled_from([APP_ID, APP_ID[:-1], APP_ID + "x", "", "wx0000000000000000"]),
    st.binary(max_size=40),
)
def test_broken_frames_raise_a_decrypt_error_or_give_back_their_xml(
    xml, length, middle, app_id, tail
):
    """Frames with lying length fields, other AppIDs and arbitrary padding: our framing check
    (or the padding check) refuses them, or — only when everything is right — returns the XML."""
    plaintext = b"R" * 16 + length.to_bytes(4, "big") + xml + middle + app_id.encode() + tail
    plaintext += b"\x00" * (-len(plaintext) % 16)
    result = only_our_errors(
        decrypt_with_keys, encrypt=raw_encrypt(plaintext), keys=(KEY,), app_id=APP_ID
    )
    if not isinstance(result, WeChatError):
        xml_back, key = result
        assert key == KEY and plaintext[20 : 20 + len(xml_back)] == xml_back


@FAST
@given(
    st.binary(max_size=500),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=32),
    st.sampled_from([KEY, OLD_KEY]),
)
def test_encrypt_then_decrypt_gives_back_the_message(xml, app_id, key):
    encrypt = encrypt_message(xml=xml, key=key, app_id=app_id)
    assert decrypt_with_keys(encrypt=encrypt, keys=(KEY, OLD_KEY), app_id=app_id) == (xml, key)
    assert isinstance(
        only_our_errors(decrypt_with_keys, encrypt=encrypt, keys=(KEY,), app_id=app_id + "x"),
        DecryptError,
    )


# --- open_request -------------------------------------------------------------------------------

query_keys = st.sampled_from(
    ["signature", "timestamp", "nonce", "encrypt_type", "msg_signature", "openid", "echostr"]
)
query_values = st.text(max_size=30) | st.sampled_from(["aes", "raw", "AES", "", "0", str(10**12)])


@FAST
@given(
    st.dictionaries(query_keys | st.text(max_size=5), query_values, max_size=7),
    st.binary(max_size=500),
)
def test_open_request_with_any_query_and_body_raises_only_our_errors(query, body):
    result = only_our_errors(
        open_request, query=query, body=body, credentials=CREDENTIALS, now=time.time(), window=300
    )
    assert isinstance(result, WeChatError), "an unsigned request was accepted"


@FAST
@given(
    st.sampled_from(["plain", "aes"]),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
        min_size=1,
        max_size=20,
    ),
    st.binary(max_size=600) | st.builds(sample_message) | st.text(max_size=200).map(str.encode),
    st.text(xml_chars, max_size=200)
    | st.binary(min_size=32, max_size=200).map(lambda b: base64.b64encode(b).decode()),
)
def test_open_request_signed_right_with_any_body_raises_only_our_errors(mode, nonce, body, encrypt):
    timestamp = str(int(time.time()))
    query = {
        "signature": compute_signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if mode == "aes":
        query |= {
            "encrypt_type": "aes",
            "msg_signature": compute_signature(TOKEN, timestamp, nonce, encrypt),
        }
        root = etree.Element("xml")
        etree.SubElement(root, "Encrypt").text = encrypt
        body = etree.tostring(root)
    only_our_errors(
        open_request, query=query, body=body, credentials=CREDENTIALS, now=time.time(), window=300
    )


# --- the whole view -----------------------------------------------------------------------------


def answer_is_never_a_500(wechat, query, body, content_type="text/xml"):
    response = wechat.post_raw(query, body, content_type=content_type)
    assert response.status_code in (200, 400, 403, 413), (response.status_code, response.content)
    return response


@pytest.mark.django_db
@VIEW
@given(body=st.binary(max_size=3000) | st.builds(sample_message))
def test_view_with_any_body_under_a_valid_signature_never_answers_500(wechat, body):
    query, _ = wechat.signed(b"<xml/>")
    answer_is_never_a_500(wechat, query, body)


@pytest.mark.django_db
@VIEW
@given(encrypt=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=400))
def test_view_with_any_ciphertext_under_a_valid_msg_signature_never_answers_500(wechat, encrypt):
    query, _ = wechat.signed(b"<xml><ToUserName>a</ToUserName></xml>", mode="aes")
    query["msg_signature"] = compute_signature(TOKEN, query["timestamp"], query["nonce"], encrypt)
    root = etree.Element("xml")
    etree.SubElement(root, "Encrypt").text = (
        etree.CDATA(encrypt) if "]]>" not in encrypt else encrypt
    )
    answer_is_never_a_500(wechat, query, etree.tostring(root))


@pytest.mark.django_db
@VIEW
@given(
    msg_type=st.sampled_from(["text", "image", "voice", "event", "location", "whatever"])
    | tag_names,
    content=xml_text,
    extra=st.lists(trees, max_size=3),
    mode=st.sampled_from(["plain", "compat", "aes"]),
)
def test_view_stores_any_well_formed_message_once_with_its_text(
    wechat, msg_type, content, extra, mode
):
    """Loses nothing: any well-formed message with the four required fields is answered 200
    and stored, with its Content exactly as sent, whatever else it carries."""
    from replies.models import Message

    # build_message_xml writes strings as CDATA, which cannot hold "]]>" (the parser tests
    # above cover "]]>" in escaped text).
    assume("]]>" not in content)
    # "Event" or "EVENT" as a tag name would be an event without Event: deduplicated by
    # follower and second, so two of them in one second are one (correctly) — not this test.
    assume(msg_type == "event" or msg_type.lower() != "event")
    reserved = {"tousername", "fromusername", "createtime", "msgtype", "content", "msgid"}
    reserved |= {"event", "eventkey"}
    fields = {"Content": content}
    for tree in extra:
        # build_message_xml nests a repeated tag one level deeper (as <item>s): stay shallow.
        assume(depth_of(tree) <= 3 and "]]>" not in repr(tree))
        if tree[0].lower() not in reserved:
            fields[tree[0]] = expected_value(tree)
    fields = {k: v for k, v in fields.items() if not isinstance(v, list)}
    if msg_type == "event":
        xml = wechat.xml("event", Event="CLICK", EventKey=str(time.time_ns()), **fields)
    else:
        xml = wechat.xml(msg_type, **fields)
    assume(len(xml) < 20_000)
    before = Message.objects.count()
    response = answer_is_never_a_500(wechat, *wechat.signed(xml, mode=mode))
    assert response.status_code == 200, response.content
    assert Message.objects.count() == before + 1
    stored = Message.objects.order_by("-id").first()
    assert stored.msg_type == msg_type.lower()
    assert stored.content == content


# --- atheris (coverage-guided, in a subprocess) -------------------------------------------------

ATHERIS_TARGET = r"""
import sys, time
import atheris

with atheris.instrument_imports():
    from replies.protocol import (
        Credentials, WeChatError, compute_signature, decode_aes_key, decrypt_with_keys,
        open_request, parse_message,
    )

KEY = decode_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
CREDENTIALS = Credentials(token="t", app_id="wx2c2769f8efd9abc2", aes_keys=(KEY,))
NOW = 1_700_000_000


def target(data):
    fdp = atheris.FuzzedDataProvider(data)
    what = fdp.ConsumeIntInRange(0, 3)
    try:
        if what == 0:
            parse_message(fdp.ConsumeBytes(fdp.remaining_bytes()))
        elif what == 1:
            decrypt_with_keys(
                encrypt=fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()),
                keys=(KEY,),
                app_id=CREDENTIALS.app_id,
            )
        elif what == 2:
            nonce = fdp.ConsumeUnicodeNoSurrogates(8) or "n"
            timestamp = str(NOW)
            query = {
                "signature": compute_signature("t", timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
            }
            open_request(
                query=query, body=fdp.ConsumeBytes(fdp.remaining_bytes()),
                credentials=CREDENTIALS, now=NOW, window=300,
            )
        else:
            query = {
                fdp.ConsumeUnicodeNoSurrogates(12): fdp.ConsumeUnicodeNoSurrogates(16)
                for _ in range(fdp.ConsumeIntInRange(0, 6))
            }
            open_request(
                query=query, body=fdp.ConsumeBytes(fdp.remaining_bytes()),
                credentials=CREDENTIALS, now=NOW, window=300,
            )
    except WeChatError:
        pass


atheris.Setup(sys.argv, target)
atheris.Fuzz()
"""

ATHERIS_RUNS = int(os.environ.get("WXSITE_ATHERIS_RUNS", "50000"))


def test_atheris_finds_no_crash_in_the_protocol(tmp_path):
    pytest.importorskip("atheris", reason="atheris not installed: pip install atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "message").write_bytes(b"\x00" + sample_message())
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            ATHERIS_TARGET,
            f"-runs={ATHERIS_RUNS}",
            "-seed=1",
            "-max_len=2048",
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"Done {ATHERIS_RUNS} runs" in completed.stderr
