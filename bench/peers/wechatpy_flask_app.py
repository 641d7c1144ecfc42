"""wechatpy on Flask, as in wechatpy's example: `gunicorn bench.peers.wechatpy_flask_app:app`.

Checks the signature, parses the message, answers a text message with a text reply. Stores
nothing: it has no database.
"""

import os

from flask import Flask, abort, request
from wechatpy import create_reply, parse_message
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

TOKEN = os.environ["BENCH_TOKEN"]
REPLY = os.environ.get("BENCH_REPLY", "reply")

app = Flask(__name__)


@app.route("/wechat/", methods=["GET", "POST"])
def wechat():
    """Answer WeChat: echo on GET, a text reply to a text message on POST."""
    try:
        check_signature(
            TOKEN,
            request.args.get("signature", ""),
            request.args.get("timestamp", ""),
            request.args.get("nonce", ""),
        )
    except InvalidSignatureException:
        abort(403)
    if request.method == "GET":
        return request.args.get("echostr", "")
    message = parse_message(request.data)
    if message.type == "text":
        return create_reply(REPLY, message).render()
    return "success"
