"""Turn a reply value into the body of message/custom/send, WeChat's customer-service message.

The same reply values (replies.protocol) serve passive replies and customer-service messages, so
a staff reply is checked by the one validator (`check_reply`) and a rule's follow-up is the
very reply the rule holds. WeChat's custom send takes text, image, voice, video, music and news
with one article (more are refused since 2018: only the first is sent); a transfer to customer
service is a passive reply only and cannot be sent this way.
"""

from typing import Any

from replies.protocol import (
    ImageReply,
    MusicReply,
    NewsReply,
    Reply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
)

# message/custom/send shows one news article.
CUSTOM_NEWS_ARTICLES = 1


class NotSendable(ValueError):
    """A reply that only exists as a passive reply (transfer to customer service)."""


def is_sendable(reply: Reply) -> bool:
    """Return whether `reply` can go out as a customer-service message."""
    return not isinstance(reply, TransferCustomerServiceReply)


def custom_message(reply: Reply, *, openid: str) -> dict[str, Any]:
    """Return the message/custom/send body that sends `reply` to `openid`.

    Raises NotSendable for a transfer to customer service.
    """
    body: dict[str, Any]
    match reply:
        case TextReply():
            body = {"text": {"content": reply.content}}
        case ImageReply():
            body = {"image": {"media_id": reply.media_id}}
        case VoiceReply():
            body = {"voice": {"media_id": reply.media_id}}
        case VideoReply():
            video = {"media_id": reply.media_id, "title": reply.title}
            video["description"] = reply.description
            body = {"video": video}
        case MusicReply():
            body = {
                "music": {
                    "title": reply.title,
                    "description": reply.description,
                    "musicurl": reply.music_url,
                    "hqmusicurl": reply.hq_music_url,
                    "thumb_media_id": reply.thumb_media_id,
                }
            }
        case NewsReply():
            articles = [
                {
                    "title": article.title,
                    "description": article.description,
                    "url": article.url,
                    "picurl": article.pic_url,
                }
                for article in reply.articles[:CUSTOM_NEWS_ARTICLES]
            ]
            body = {"news": {"articles": articles}}
        case _:
            raise NotSendable(f"a {reply.msg_type} reply cannot be sent as a customer message")
    return {"touser": openid, "msgtype": reply.msg_type, **body}
