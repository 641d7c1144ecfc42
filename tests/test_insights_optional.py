"""Insights are an app of their own: without them the endpoint and the admin still work."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import hashlib, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("check", fail_level="ERROR")
from django.contrib.auth.models import User
from django.test import Client
from django.urls import NoReverseMatch, reverse
from replies.protocol.client import build_message_xml

admin = User.objects.create_superuser("root", "root@example.com", "a-long-password-1")
client = Client()
client.force_login(admin)
index = client.get("/admin/")
assert index.status_code == 200, index.status_code
assert b"/admin/insights/" not in index.content
assert client.get("/admin/replies/message/").status_code == 200
try:
    reverse("admin:insights_report_changelist")
    raise SystemExit("insights URLs are still there")
except NoReverseMatch:
    pass
timestamp, nonce = str(int(time.time())), "12345"
signature = hashlib.sha1("".join(sorted(["optional-token", timestamp, nonce])).encode()).hexdigest()
xml = build_message_xml(msg_type="text", from_user="o1", to_user="gh_1",
                        create_time=int(time.time()), Content="hi", MsgId=1)
answer = Client().post(f"/wechat/?signature={signature}&timestamp={timestamp}&nonce={nonce}",
                       data=xml, content_type="text/xml")
assert answer.status_code == 200, answer.content
print("ok")
"""


def test_endpoint_and_admin_work_with_insights_removed():
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_without_insights"}
    environment.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr
