"""WeChat's 48-hour window for customer-service messages, read from the message log.

WeChat lets an account send customer-service messages to a follower for 48 hours after the
follower's last interaction: a message of any type, following, scanning a QR code, or a menu
click of the kinds that wait for an answer (click, scancode_push, scancode_waitmsg). Other
events (unfollowing, opening a link, the location reported in the background, job results) open
nothing. The log has every such message, so the window is computed here before calling WeChat:
a closed window is refused without an API call (WeChat would answer 45015).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from replies.models import Message
from replies.protocol import MsgType
from replies.protocol.vocabulary import CUSTOMER_SERVICE_WINDOW_SECONDS, WINDOW_OPENING_EVENTS

WINDOW = timedelta(seconds=CUSTOMER_SERVICE_WINDOW_SECONDS)
# As the pages state it: WeChat's 48 hours.
WINDOW_HOURS = CUSTOMER_SERVICE_WINDOW_SECONDS // 3600


@dataclass(frozen=True)
class ReplyWindow:
    """When the follower last wrote (None: never, in the log) and until when we may answer."""

    last_interaction: datetime | None

    @property
    def closes_at(self) -> datetime | None:
        return self.last_interaction + WINDOW if self.last_interaction else None

    def is_open(self, now: datetime | None = None) -> bool:
        closes_at = self.closes_at
        return closes_at is not None and (now or timezone.now()) < closes_at

    def remaining(self, now: datetime | None = None) -> timedelta:
        """Return the time left to answer (zero once closed)."""
        closes_at = self.closes_at
        if closes_at is None:
            return timedelta(0)
        return max(closes_at - (now or timezone.now()), timedelta(0))


def reply_window(*, openid: str, account_id: int | None = None) -> ReplyWindow:
    """Return `openid`'s window from the log (one walk down the (openid, -received_at) index)."""
    opening = ~Q(msg_type=MsgType.EVENT) | Q(event__in=WINDOW_OPENING_EVENTS)
    rows = Message.objects.filter(opening, openid=openid)
    if account_id:
        rows = rows.filter(account_id=account_id)
    last = rows.order_by("-received_at").values_list("received_at", flat=True).first()
    return ReplyWindow(last_interaction=last)
