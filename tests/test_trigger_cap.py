"""A rule has at most MAX_TRIGGERS_PER_RULE triggers, in the admin and in the JSON import.

One rule with 10,000 triggers once killed the worker that opened it in the admin (10,000 inline
forms). The admin's form and the import refuse more than the cap with a message that says it;
a rule already past the cap in the database still opens — quickly, its first triggers editable
and a notice saying the rest are kept — and can be brought under the cap.
"""

import json
import time

import pytest
from django.utils import translation

from replies.models import ReplyRule, Trigger
from replies.rules.forms import MAX_TRIGGERS_PER_RULE
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

ADD = "/admin/replies/replyrule/add/"


def test_the_cap_is_in_the_low_hundreds():
    assert 10 <= MAX_TRIGGERS_PER_RULE <= 500


def rule_form(keywords, *, initial=(), deleted=()):
    """Return the admin's POST for a rule with `initial` existing triggers and `keywords` new."""
    data = {
        "name": "many",
        "enabled": "on",
        "priority": "0",
        "reply_mode": "first",
        "triggers-TOTAL_FORMS": str(len(initial) + len(keywords)),
        "triggers-INITIAL_FORMS": str(len(initial)),
        "replies-TOTAL_FORMS": "1",
        "replies-INITIAL_FORMS": "0",
        "replies-0-reply_type": "text",
        "replies-0-position": "0",
        "replies-0-content": "hi",
    }
    rows = [(t.pk, t.value) for t in initial] + [(None, k) for k in keywords]
    for n, (pk, value) in enumerate(rows):
        data.update(
            {
                f"triggers-{n}-kind": "keyword",
                f"triggers-{n}-match": "exact",
                f"triggers-{n}-value": value,
            }
        )
        if pk:
            data[f"triggers-{n}-id"] = str(pk)
        if pk in deleted:
            data[f"triggers-{n}-DELETE"] = "on"
    return data


def test_a_rule_with_the_cap_of_triggers_is_saved(admin_client):
    keywords = [f"k{n}" for n in range(MAX_TRIGGERS_PER_RULE)]
    response = admin_client.post(ADD, rule_form(keywords))
    assert response.status_code == 302
    assert ReplyRule.objects.get(name="many").triggers.count() == MAX_TRIGGERS_PER_RULE


def test_one_trigger_past_the_cap_is_refused_with_a_message_saying_the_cap(admin_client):
    keywords = [f"k{n}" for n in range(MAX_TRIGGERS_PER_RULE + 1)]
    response = admin_client.post(ADD, rule_form(keywords), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert not ReplyRule.objects.filter(name="many").exists()
    (formset, *_others) = response.context["inline_admin_formsets"]
    errors = " ".join(formset.formset.non_form_errors())
    assert f"at most {MAX_TRIGGERS_PER_RULE} triggers" in errors


def test_the_form_says_the_cap_in_its_help_text(admin_client):
    page = admin_client.get(ADD, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"at most {MAX_TRIGGERS_PER_RULE} triggers" in page


def test_a_forged_total_of_a_million_forms_builds_no_million_forms(admin_client):
    data = rule_form(["a"])
    data["triggers-TOTAL_FORMS"] = "1000000"
    started = time.monotonic()
    response = admin_client.post(ADD, data)
    assert response.status_code == 200
    assert time.monotonic() - started < 10
    assert not ReplyRule.objects.filter(name="many").exists()


# --- the JSON import ------------------------------------------------------------------------


def test_the_import_refuses_a_rule_past_the_cap():
    from replies.rules.transfer import RulesFileError, load_document, validate_rules

    document = {
        "format": "wxsite-rules",
        "version": 1,
        "rules": [
            {
                "name": "many",
                "triggers": [{"value": f"k{n}"} for n in range(MAX_TRIGGERS_PER_RULE + 1)],
                "replies": [{"type": "text", "content": "hi"}],
            }
        ],
    }
    with pytest.raises(RulesFileError) as refused, translation.override("en"):
        validate_rules(load_document(json.dumps(document)))
    assert any(
        f"at most {MAX_TRIGGERS_PER_RULE} triggers" in problem for problem in refused.value.problems
    )


def test_the_import_takes_a_rule_at_the_cap():
    from replies.rules.transfer import validate_rules

    rules = [
        {
            "name": "many",
            "triggers": [{"value": f"k{n}"} for n in range(MAX_TRIGGERS_PER_RULE)],
            "replies": [{"type": "text", "content": "hi"}],
        }
    ]
    (rule,) = validate_rules(rules)
    assert len(rule.triggers) == MAX_TRIGGERS_PER_RULE


# --- a rule already past the cap in the database ----------------------------------------------


@pytest.fixture
def huge_rule():
    rule = make_rule("huge", keywords=[])
    Trigger.objects.bulk_create(
        Trigger(rule=rule, kind="keyword", match="exact", value=f"k{n}") for n in range(10_000)
    )
    return rule


def change_url(rule):
    return f"/admin/replies/replyrule/{rule.pk}/change/"


def test_a_rule_past_the_cap_opens_quickly_with_its_first_triggers_and_a_notice(
    admin_client, huge_rule
):
    started = time.monotonic()
    response = admin_client.get(change_url(huge_rule), HTTP_ACCEPT_LANGUAGE="en")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    (triggers, *_others) = response.context["inline_admin_formsets"]
    assert len(triggers.formset.forms) == MAX_TRIGGERS_PER_RULE
    notes = " ".join(str(message) for message in response.context["messages"])
    assert "10000" in notes.replace(",", "") and str(MAX_TRIGGERS_PER_RULE) in notes
    assert elapsed < 10


def test_a_rule_past_the_cap_saved_unchanged_keeps_every_trigger(admin_client, huge_rule):
    shown = list(huge_rule.triggers.order_by("pk")[:MAX_TRIGGERS_PER_RULE])
    response = admin_client.post(change_url(huge_rule), rule_form([], initial=shown))
    assert response.status_code == 302, response.context and response.context["errors"]
    assert huge_rule.triggers.count() == 10_000


def test_a_rule_past_the_cap_cannot_grow(admin_client, huge_rule):
    shown = list(huge_rule.triggers.order_by("pk")[:MAX_TRIGGERS_PER_RULE])
    data = rule_form(["one more"], initial=shown)
    response = admin_client.post(change_url(huge_rule), data)
    assert response.status_code == 200
    assert huge_rule.triggers.count() == 10_000


def test_a_rule_past_the_cap_can_shrink(admin_client, huge_rule):
    shown = list(huge_rule.triggers.order_by("pk")[:MAX_TRIGGERS_PER_RULE])
    deleted = {t.pk for t in shown[:50]}
    response = admin_client.post(
        change_url(huge_rule), rule_form([], initial=shown, deleted=deleted)
    )
    assert response.status_code == 302
    assert huge_rule.triggers.count() == 10_000 - 50


def test_the_rule_list_shows_a_few_triggers_of_a_huge_rule(admin_client, huge_rule):
    response = admin_client.get("/admin/replies/replyrule/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()
    assert "k9999" not in page
    assert "9,990 more" in page or "9990 more" in page
