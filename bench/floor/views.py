"""The floor's two views: a constant reply, and the same after one INSERT."""

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from bench.floor.models import FloorMessage

REPLY = (
    b"<xml><ToUserName><![CDATA[oFollower]]></ToUserName>"
    b"<FromUserName><![CDATA[gh_0123456789ab]]></FromUserName>"
    b"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    b"<Content><![CDATA[floor]]></Content></xml>"
)


@csrf_exempt
def constant_reply(request):
    """Answer with a constant XML reply: Django's request/response cost and nothing else."""
    return HttpResponse(REPLY, content_type="application/xml; charset=utf-8")


@csrf_exempt
def insert_and_reply(request):
    """Store the body as one row (one INSERT, autocommit) and answer the constant reply."""
    FloorMessage.objects.create(
        raw_xml=request.body.decode("utf-8", "replace"), received_at=timezone.now()
    )
    return HttpResponse(REPLY, content_type="application/xml; charset=utf-8")
