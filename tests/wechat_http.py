"""Post a signed text message over real HTTP, as WeChat's servers do: for tests against a server
running in another thread or process (the browser, CSP and reply-all tests)."""

from __future__ import annotations

import time
import urllib.request
from urllib.parse import urlencode

from replies.protocol import Credentials, decode_aes_key
from replies.protocol.client import build_message_xml, open_reply, sign_request
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, OPENID, TOKEN, next_msg_id

CREDENTIALS = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))


def post_signed_text(
    endpoint: str, text: str, *, mode: str = "plain", msg_id: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """POST `text` from the test follower to `endpoint` (e.g. ".../wechat/"), signed with the
    test credentials in `mode`; assert a 200 and return the plaintext reply and the headers."""
    msg_id = msg_id or next_msg_id()
    xml = build_message_xml(
        msg_type="text",
        from_user=OPENID,
        to_user=ACCOUNT,
        create_time=int(time.time()),
        Content=text,
        MsgId=msg_id,
    )
    query, body = sign_request(
        xml=xml,
        credentials=CREDENTIALS,
        mode=mode,
        timestamp=str(int(time.time())),
        nonce=str(msg_id),
    )
    request = urllib.request.Request(
        f"{endpoint}?{urlencode(query)}", data=body, headers={"Content-Type": "text/xml"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        answer, headers = response.read(), dict(response.headers)
    return open_reply(body=answer, credentials=CREDENTIALS, encrypted=mode != "plain"), headers
