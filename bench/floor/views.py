"""The floor's views: a constant reply, the same after one INSERT, and after a group commit."""

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from bench.floor.group_commit import GroupWriter
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


_group_writer = GroupWriter(table=FloorMessage._meta.db_table, columns=("raw_xml", "received_at"))
_received_at = FloorMessage._meta.get_field("received_at")


@csrf_exempt
def group_insert_and_reply(request):
    """Store the body as /floor-insert/ does, but through the process's group writer: rows of
    concurrent requests share one INSERT and one commit (bench/floor/group_commit.py)."""
    received_at = _received_at.get_db_prep_save(timezone.now(), connection)
    _group_writer.store((request.body.decode("utf-8", "replace"), received_at))
    return HttpResponse(REPLY, content_type="application/xml; charset=utf-8")
