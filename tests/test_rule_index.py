"""Tests for replies.rules.index: which rule answers which message, and that regexes run on RE2."""

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replies.rules import index as rule_index
from replies.rules.index import (
    CLICK,
    CONTAINS,
    DEFAULT,
    EXACT,
    KEYWORD,
    MSG_TYPE,
    PREFIX,
    REGEX,
    SCAN,
    STRENGTH_ANY_EVENT,
    STRENGTH_CONTAINS,
    STRENGTH_DEFAULT,
    STRENGTH_EVENT_KEY,
    STRENGTH_EXACT,
    STRENGTH_MSG_TYPE,
    STRENGTH_PREFIX,
    STRENGTH_REGEX,
    SUBSCRIBE,
    InvalidPattern,
    Query,
    RuleIndex,
    RuleSpec,
    Schedule,
    Trigger,
    compile_pattern,
    normalize_text,
)

CST = timezone(timedelta(hours=8))
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=CST)
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def active_matches(index, query, *, now):
    """Every rule that answers `query` at `now`, the winner first (explain() without the idle)."""
    return [match for match, active in index.explain(query, now=now) if active]


@pytest.fixture(autouse=True)
def wechat_settings():
    """Override the Django settings fixture of conftest: these tests run without Django."""


def rule(rule_id, *triggers, priority=0, age=0, schedule=None, name=None, payload=None):
    """Return a rule; a larger `age` makes it older (created earlier)."""
    return RuleSpec(
        id=rule_id,
        name=name or f"rule {rule_id}",
        priority=priority,
        created_at=BASE - timedelta(days=age),
        triggers=tuple(triggers),
        schedule=schedule,
        payload=payload,
    )


def keyword(value, match=EXACT):
    return Trigger(kind=KEYWORD, value=value, match=match)


def text(value, msg_type="text"):
    return Query(msg_type=msg_type, text=value)


def event(name, key=""):
    return Query(msg_type="event", event=name, event_key=key)


def winner(rules, query, now=NOW):
    match = RuleIndex.build(rules).find(query, now=now)
    return None if match is None else match.rule.id


# --- normalization -------------------------------------------------------------------------


def test_normalize_text_folds_full_width_letters_and_case():
    assert normalize_text("ＨＥＬＬＯ") == "hello"
    assert normalize_text("HeLLo") == "hello"


def test_normalize_text_folds_full_width_digits_and_punctuation():
    assert normalize_text("订单１２３！") == "订单123!"


def test_normalize_text_strips_surrounding_whitespace_including_ideographic_space():
    assert normalize_text(" Hi ") == "hi"
    assert normalize_text("\u3000你好\n") == "你好"


def test_normalize_text_keeps_inner_whitespace():
    assert normalize_text(" a  b ") == "a  b"


def test_full_width_message_matches_ascii_keyword():
    assert winner([rule(1, keyword("hello"))], text("ＨＥＬＬＯ")) == 1


def test_keyword_is_normalized_at_build():
    assert winner([rule(1, keyword(" ＨＩ "))], text("hi")) == 1


# --- keyword modes -------------------------------------------------------------------------


def test_exact_keyword_matches_whole_text_only():
    rules = [rule(1, keyword("hello"))]
    assert winner(rules, text(" Hello ")) == 1
    assert winner(rules, text("hello there")) is None


def test_prefix_keyword_matches_start_of_text_only():
    rules = [rule(1, keyword("查询", PREFIX))]
    assert winner(rules, text("查询订单")) == 1
    assert winner(rules, text("查询")) == 1
    assert winner(rules, text("我要查询")) is None


def test_contains_keyword_matches_anywhere_in_text():
    rules = [rule(1, keyword("退款", CONTAINS))]
    assert winner(rules, text("退款")) == 1
    assert winner(rules, text("我想退款可以吗")) == 1
    assert winner(rules, text("退货")) is None


def test_contains_finds_keywords_inside_other_keywords():
    rules = [rule(1, keyword("she", CONTAINS)), rule(2, keyword("he", CONTAINS), priority=1)]
    assert winner(rules, text("ushers")) == 2
    assert [m.rule.id for m in active_matches(RuleIndex.build(rules), text("ushers"), now=NOW)] == [
        2,
        1,
    ]


def test_regex_keyword_searches_normalized_text():
    rules = [rule(1, keyword(r"订单\d{6}", REGEX))]
    assert winner(rules, text("我的订单１２３４５６到哪了")) == 1
    assert winner(rules, text("订单12345")) is None


def test_regex_ignores_case_of_pattern():
    assert winner([rule(1, keyword(r"^ORDER-\d+$", REGEX))], text("Order-42")) == 1


def test_keywords_do_not_answer_empty_or_blank_text():
    rules = [rule(1, keyword(r".*", REGEX)), rule(2, keyword("a", CONTAINS))]
    assert winner(rules, text("")) is None
    assert winner(rules, text(" \u3000 ")) is None


def test_keywords_answer_voice_recognition():
    assert winner([rule(1, keyword("天气"))], text("天气", msg_type="voice")) == 1


def test_empty_keyword_is_left_out_with_a_log(caplog):
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        index = RuleIndex.build([rule(1, keyword(" ", CONTAINS))])
    assert index.find(text("anything"), now=NOW) is None
    assert "empty once normalized" in caplog.text


def test_unknown_match_mode_leaves_only_that_trigger_out(caplog):
    rules = [rule(1, Trigger(kind=KEYWORD, value="hi"), keyword("hello"))]
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        index = RuleIndex.build(rules)
    assert index.find(text("hi"), now=NOW) is None
    assert index.find(text("hello"), now=NOW).rule.id == 1
    assert "unknown keyword match mode" in caplog.text


def test_unknown_trigger_kind_is_left_out_with_a_log(caplog):
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        index = RuleIndex.build([rule(1, Trigger(kind="telepathy", value="x"))])
    assert index.rule_count == 0
    assert "unknown trigger kind" in caplog.text


# --- events and message types -------------------------------------------------------------


def test_subscribe_without_scene_answers_every_follow():
    rules = [rule(1, Trigger(kind=SUBSCRIBE))]
    assert winner(rules, event("subscribe")) == 1
    assert winner(rules, event("subscribe", "qrscene_42")) == 1


def test_subscribe_with_scene_answers_only_follows_from_that_qr_code():
    rules = [rule(1, Trigger(kind=SUBSCRIBE, value="42"))]
    assert winner(rules, event("subscribe", "qrscene_42")) == 1
    assert winner(rules, event("subscribe", "qrscene_43")) is None
    assert winner(rules, event("subscribe")) is None
    assert winner(rules, event("subscribe", "42")) is None


def test_subscribe_with_scene_beats_plain_subscribe():
    rules = [rule(1, Trigger(kind=SUBSCRIBE), age=5), rule(2, Trigger(kind=SUBSCRIBE, value="42"))]
    assert winner(rules, event("subscribe", "qrscene_42")) == 2
    assert winner(rules, event("subscribe")) == 1


def test_subscribe_rules_do_not_answer_scans():
    assert winner([rule(1, Trigger(kind=SUBSCRIBE))], event("scan", "42")) is None


def test_scan_answers_existing_followers_scanning_a_code():
    rules = [rule(1, Trigger(kind=SCAN)), rule(2, Trigger(kind=SCAN, value="42"))]
    assert winner(rules, event("scan", "42")) == 2
    assert winner(rules, event("scan", "7")) == 1
    assert winner(rules, event("subscribe", "qrscene_42")) is None


def test_event_names_are_compared_case_insensitively():
    rules = [rule(1, Trigger(kind=SCAN, value="42")), rule(2, Trigger(kind=CLICK, value="K"))]
    assert winner(rules, event("SCAN", "42")) == 1
    assert winner(rules, event("CLICK", "K")) == 2


@pytest.mark.parametrize(
    "name",
    [
        "click",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
    ],
)
def test_click_answers_every_menu_event_with_its_key(name):
    assert (
        winner([rule(1, Trigger(kind=CLICK, value="V1001_TODAY"))], event(name, "V1001_TODAY")) == 1
    )


@pytest.mark.parametrize("name", ["view", "subscribe", "scan", "location", "unsubscribe"])
def test_click_does_not_answer_other_events_with_the_same_key(name):
    assert winner([rule(1, Trigger(kind=CLICK, value="K"))], event(name, "K")) is None


def test_click_key_is_case_sensitive():
    assert winner([rule(1, Trigger(kind=CLICK, value="Menu_A"))], event("click", "menu_a")) is None


def test_msg_type_answers_messages_of_that_type():
    rules = [
        rule(1, Trigger(kind=MSG_TYPE, value="image")),
        rule(2, Trigger(kind=MSG_TYPE, value="Text")),
    ]
    assert winner(rules, Query(msg_type="image")) == 1
    assert winner(rules, text("hi")) == 2
    assert winner(rules, Query(msg_type="voice")) is None


def test_msg_type_never_answers_events(caplog):
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        rules = [rule(1, Trigger(kind=MSG_TYPE, value="event"))]
        assert winner(rules, event("click", "K")) is None
    assert "cannot be matched" in caplog.text


def test_default_answers_any_message_nothing_else_matched():
    rules = [rule(1, Trigger(kind=DEFAULT)), rule(2, keyword("hi"))]
    assert winner(rules, text("hi")) == 2
    assert winner(rules, text("something else")) == 1
    assert winner(rules, Query(msg_type="location")) == 1
    assert winner(rules, Query(msg_type="miniprogrampage")) == 1


def test_default_does_not_answer_events():
    rules = [rule(1, Trigger(kind=DEFAULT))]
    assert winner(rules, event("subscribe")) is None
    assert winner(rules, event("click", "K")) is None
    assert winner(rules, event("location")) is None


# --- winning order -------------------------------------------------------------------------


def test_default_is_last_even_with_top_priority():
    rules = [rule(1, Trigger(kind=DEFAULT), priority=1000), rule(2, keyword("x", CONTAINS))]
    index = RuleIndex.build(rules)
    assert index.find(text("xyz"), now=NOW).rule.id == 2
    assert [m.rule.id for m in active_matches(index, text("xyz"), now=NOW)] == [2, 1]


def test_defaults_are_ordered_among_themselves_by_priority():
    rules = [rule(1, Trigger(kind=DEFAULT), age=9), rule(2, Trigger(kind=DEFAULT), priority=1)]
    assert winner(rules, text("zzz")) == 2


def test_priority_beats_strength():
    rules = [rule(1, keyword("hi")), rule(2, keyword("h", CONTAINS), priority=1)]
    assert winner(rules, text("hi")) == 2


def test_top_priority_regex_beats_exact_keyword():
    rules = [rule(1, keyword("hi")), rule(2, keyword("^h", REGEX), priority=1)]
    assert winner(rules, text("hi")) == 2


def test_strength_beats_age():
    rules = [
        rule(1, keyword("hi", CONTAINS), age=10),
        rule(2, keyword("hi", PREFIX), age=5),
        rule(3, keyword("hi there")),
    ]
    index = RuleIndex.build(rules)
    found = active_matches(index, text("hi there"), now=NOW)
    assert [(m.rule.id, m.strength) for m in found] == [
        (3, STRENGTH_EXACT),
        (2, STRENGTH_PREFIX),
        (1, STRENGTH_CONTAINS),
    ]


def test_contains_beats_regex_and_regex_beats_msg_type():
    rules = [
        rule(1, Trigger(kind=MSG_TYPE, value="text"), age=3),
        rule(2, keyword("a+", REGEX), age=2),
        rule(3, keyword("a", CONTAINS)),
    ]
    found = active_matches(RuleIndex.build(rules), text("aaa"), now=NOW)
    assert [(m.rule.id, m.strength) for m in found] == [
        (3, STRENGTH_CONTAINS),
        (2, STRENGTH_REGEX),
        (1, STRENGTH_MSG_TYPE),
    ]


def test_longer_keyword_wins_a_tie():
    rules = [rule(1, keyword("退", CONTAINS), age=9), rule(2, keyword("退款", CONTAINS))]
    assert winner(rules, text("我要退款")) == 2


def test_older_rule_wins_a_tie_then_lower_id():
    assert winner([rule(1, keyword("hi")), rule(2, keyword("hi"), age=1)], text("hi")) == 2
    assert winner([rule(2, keyword("hi")), rule(1, keyword("hi"))], text("hi")) == 1


def test_rule_appears_once_with_its_strongest_trigger():
    rules = [rule(1, keyword("h", CONTAINS), keyword("hi"), Trigger(kind=DEFAULT))]
    found = active_matches(RuleIndex.build(rules), text("hi"), now=NOW)
    assert [(m.rule.id, m.trigger.value, m.strength) for m in found] == [(1, "hi", STRENGTH_EXACT)]


def test_rule_with_default_trigger_falls_back_to_default_place():
    rules = [
        rule(1, keyword("hi"), Trigger(kind=DEFAULT), priority=9),
        rule(2, keyword("x", CONTAINS)),
    ]
    found = active_matches(RuleIndex.build(rules), text("xyz"), now=NOW)
    assert [(m.rule.id, m.strength) for m in found] == [
        (2, STRENGTH_CONTAINS),
        (1, STRENGTH_DEFAULT),
    ]


def test_event_strengths():
    rules = [rule(1, Trigger(kind=SUBSCRIBE)), rule(2, Trigger(kind=SCAN, value="9"))]
    index = RuleIndex.build(rules)
    assert index.find(event("subscribe"), now=NOW).strength == STRENGTH_ANY_EVENT
    assert index.find(event("scan", "9"), now=NOW).strength == STRENGTH_EVENT_KEY


def test_match_carries_rule_trigger_and_payload():
    payload = object()
    trigger = keyword("hi")
    match = RuleIndex.build([rule(1, trigger, payload=payload)]).find(text("hi"), now=NOW)
    assert match.rule.payload is payload
    assert match.trigger == trigger


# --- schedules -----------------------------------------------------------------------------


def test_schedule_date_range_includes_start_and_excludes_end():
    schedule = Schedule(starts_at=NOW, ends_at=NOW + timedelta(days=1))
    assert schedule.is_active(NOW)
    assert schedule.is_active(NOW + timedelta(hours=23, minutes=59))
    assert not schedule.is_active(NOW - timedelta(microseconds=1))
    assert not schedule.is_active(NOW + timedelta(days=1))


def test_schedule_date_range_compares_instants_across_time_zones():
    schedule = Schedule(starts_at=datetime(2025, 3, 14, 4, 0, tzinfo=UTC))  # 12:00 in CST
    assert schedule.is_active(NOW)
    assert not schedule.is_active(NOW - timedelta(seconds=1))


def test_schedule_daily_window_includes_from_and_excludes_until():
    schedule = Schedule(daily_from=time(9), daily_until=time(18))
    assert schedule.is_active(NOW.replace(hour=9))
    assert schedule.is_active(NOW.replace(hour=17, minute=59))
    assert not schedule.is_active(NOW.replace(hour=18))
    assert not schedule.is_active(NOW.replace(hour=8, minute=59))


def test_schedule_daily_window_wraps_past_midnight():
    out_of_office = Schedule(daily_from=time(18), daily_until=time(9))
    assert out_of_office.is_active(NOW.replace(hour=18))
    assert out_of_office.is_active(NOW.replace(hour=23, minute=59))
    assert out_of_office.is_active(NOW.replace(hour=0))
    assert out_of_office.is_active(NOW.replace(hour=8, minute=59))
    assert not out_of_office.is_active(NOW.replace(hour=9))
    assert not out_of_office.is_active(NOW.replace(hour=12))


def test_schedule_daily_window_open_on_one_side():
    assert Schedule(daily_from=time(20)).is_active(NOW.replace(hour=23))
    assert not Schedule(daily_from=time(20)).is_active(NOW.replace(hour=19))
    assert Schedule(daily_until=time(8)).is_active(NOW.replace(hour=0))
    assert not Schedule(daily_until=time(8)).is_active(NOW.replace(hour=8))


def test_schedule_with_equal_daily_bounds_is_never_active():
    assert not Schedule(daily_from=time(9), daily_until=time(9)).is_active(NOW.replace(hour=9))


def test_empty_schedule_is_always_active():
    assert Schedule().is_active(NOW)


def test_schedule_refuses_naive_datetimes_and_aware_times():
    with pytest.raises(ValueError, match="aware"):
        Schedule(starts_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        Schedule(daily_from=time(9, tzinfo=UTC))


def test_inactive_rule_is_skipped_and_the_next_wins():
    night = Schedule(daily_from=time(18), daily_until=time(9))
    rules = [rule(1, keyword("hi"), priority=5, schedule=night), rule(2, keyword("hi", PREFIX))]
    assert winner(rules, text("hi"), now=NOW.replace(hour=12)) == 2
    assert winner(rules, text("hi"), now=NOW.replace(hour=22)) == 1


def test_expired_regex_rule_is_skipped_and_the_next_wins():
    expired = Schedule(ends_at=NOW - timedelta(days=1))
    rules = [
        rule(1, keyword("h", REGEX), priority=5, schedule=expired),
        rule(2, keyword("i", REGEX)),
    ]
    assert winner(rules, text("hi")) == 2


def test_inactive_rules_fall_through_to_the_default():
    later = Schedule(starts_at=NOW + timedelta(days=1))
    rules = [rule(1, keyword("hi"), schedule=later), rule(2, Trigger(kind=DEFAULT))]
    assert winner(rules, text("hi")) == 2


def test_explain_lists_inactive_rules_with_false_and_candidates_leaves_them_out():
    later = Schedule(starts_at=NOW + timedelta(days=1))
    rules = [
        rule(1, keyword("hi"), schedule=later),
        rule(2, keyword("h", PREFIX)),
        rule(3, Trigger(kind=DEFAULT)),
    ]
    index = RuleIndex.build(rules)
    assert [(m.rule.id, active) for m, active in index.explain(text("hi"), now=NOW)] == [
        (1, False),
        (2, True),
        (3, True),
    ]
    assert [m.rule.id for m in active_matches(index, text("hi"), now=NOW)] == [2, 3]


def test_failing_schedule_check_skips_the_rule_with_a_log_and_search_continues(caplog):
    @dataclass(frozen=True)
    class BrokenSchedule(Schedule):
        def is_active(self, now):
            raise RuntimeError("boom")

    rules = [rule(1, keyword("hi"), priority=9, schedule=BrokenSchedule()), rule(2, keyword("hi"))]
    with caplog.at_level(logging.ERROR, logger="replies.rules"):
        assert winner(rules, text("hi")) == 2
    assert "boom" in caplog.text


# --- regexes -------------------------------------------------------------------------------


def test_compile_pattern_refuses_backreferences():
    with pytest.raises(InvalidPattern, match="Backreferences") as refused:
        compile_pattern(r"(a)\1")
    assert refused.value.code == "backreference"
    with pytest.raises(InvalidPattern, match="backreferences"):
        compile_pattern(r"(?P<x>a)(?P=x)")


@pytest.mark.parametrize("pattern", [r"foo(?=bar)", r"foo(?!bar)", r"(?<=a)b", r"(?<!a)b"])
def test_compile_pattern_refuses_lookarounds(pattern):
    with pytest.raises(InvalidPattern, match="Lookahead and lookbehind") as refused:
        compile_pattern(pattern)
    assert refused.value.code == "lookaround"


@pytest.mark.parametrize("pattern", [r"a++", r"(?>ab)"])
def test_compile_pattern_refuses_possessive_and_atomic(pattern):
    with pytest.raises(InvalidPattern, match="not needed"):
        compile_pattern(pattern)


@pytest.mark.parametrize("pattern", ["", "[", "a{2000}", r"a\Z"])
def test_compile_pattern_refuses_malformed_patterns_with_a_message(pattern):
    with pytest.raises(InvalidPattern) as refused:
        compile_pattern(pattern)
    assert str(refused.value)
    assert "b'" not in str(refused.value)


def test_compile_pattern_never_falls_back_to_python_re():
    assert re.compile(r"(a)\1").search("aa")  # Python would take it: RE2 must not.
    compiled = compile_pattern(r"(a+)+$")
    assert not isinstance(compiled, re.Pattern)


@pytest.fixture
def python_re_forbidden(monkeypatch):
    """Make any use of Python's backtracking `re` engine fail the test.

    `re.compile`, `re.search`, `re.match`, `re.fullmatch`, `re.sub`... all go through
    `re._compile`, so patching it catches every way in. Patterns compiled before the test
    (Django's, the stdlib's) keep working: only new uses are refused.
    """

    def refuse(*args, **kwargs):
        raise AssertionError(f"Python's re was asked to compile {args[:1]!r}")

    monkeypatch.setattr(re, "_compile", refuse)


def _is_re2(obj) -> bool:
    return type(obj).__module__.split(".")[0] in {"re2", "_re2"}


def test_catastrophic_pattern_is_matched_by_re2_not_python_re(python_re_forbidden):
    """`(a+)+$` takes exponential time on a backtracking engine; RE2 matches it in linear
    time. The timing itself is measured in bench/match_bench.py; here: only RE2 runs it."""
    compiled = compile_pattern(r"(a+)+$")
    assert _is_re2(compiled), type(compiled)
    assert compiled.search("a" * 30 + "b") is None
    assert compiled.search("a" * 30) is not None


def test_catastrophic_pattern_in_the_index_is_matched_by_re2_not_python_re(python_re_forbidden):
    index = RuleIndex.build(
        [rule(1, keyword(r"(a+)+$", REGEX)), rule(2, keyword(r"(x+x+)+y", REGEX))]
    )
    assert _is_re2(index._regex_set), type(index._regex_set)
    assert all(_is_re2(compiled) for _, compiled in index._regexes)
    assert index.find(text("a" * 30 + "b" + "x" * 40), now=NOW) is None
    assert index.find(text("a" * 30), now=NOW).rule.id == 1
    assert index.find(text("x" * 40 + "y"), now=NOW).rule.id == 2


def test_invalid_regex_rule_is_skipped_at_build_with_a_log(caplog):
    rules = [
        rule(1, keyword(r"(a)\1", REGEX), keyword("aa"), priority=9),
        rule(2, keyword("a", CONTAINS)),
    ]
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        index = RuleIndex.build(rules)
    assert index.find(text("aa"), now=NOW).rule.id == 2
    assert index.rule_count == 1
    assert "rule 1" in caplog.text and "Backreferences" in caplog.text


def test_malformed_rule_is_skipped_at_build_with_a_log(caplog):
    rules = [rule(1, keyword(None)), rule(2, keyword("hi"))]
    with caplog.at_level(logging.ERROR, logger="replies.rules"):
        index = RuleIndex.build(rules)
    assert index.find(text("hi"), now=NOW).rule.id == 2
    assert "rule 1" in caplog.text


def test_rules_with_unhashable_payloads_are_indexed():
    index = RuleIndex.build([rule(1, keyword("hi"), payload=[{"type": "text"}])])
    assert index.find(text("hi"), now=NOW).rule.payload == [{"type": "text"}]


def test_same_pattern_in_several_rules_answers_for_each():
    rules = [rule(1, keyword(r"\d+", REGEX)), rule(2, keyword(r"\d+", REGEX), age=1)]
    found = active_matches(RuleIndex.build(rules), text("42"), now=NOW)
    assert [m.rule.id for m in found] == [2, 1]


class _GivingUpSet:
    """Stands in for an RE2 set whose DFA ran out of memory: it reports no match at all."""

    def __init__(self):
        self.calls = 0

    def Add(self, pattern):  # noqa: N802 - RE2's spelling
        return 0

    def Compile(self):  # noqa: N802
        return None

    def Match(self, data):  # noqa: N802
        self.calls += 1
        return None


def test_regexes_are_matched_one_by_one_when_the_set_gives_up(monkeypatch, caplog):
    fake = _GivingUpSet()
    monkeypatch.setattr(rule_index, "_new_regex_set", lambda: fake)
    rules = [rule(1, keyword(r"^a", REGEX)), rule(2, keyword(r"b$", REGEX), priority=1)]
    index = RuleIndex.build(rules)
    with caplog.at_level(logging.WARNING, logger="replies.rules"):
        assert [m.rule.id for m in active_matches(index, text("ab"), now=NOW)] == [2, 1]
        assert index.find(text("ax"), now=NOW).rule.id == 1
    assert fake.calls == 2
    assert "gave up" in caplog.text


def test_regexes_are_matched_one_by_one_when_the_set_cannot_be_built(monkeypatch):
    def refuse():
        raise rule_index.re2.error("failed to compile Set")

    monkeypatch.setattr(rule_index, "_new_regex_set", refuse)
    index = RuleIndex.build([rule(1, keyword(r"^a", REGEX)), rule(2, keyword(r"b$", REGEX))])
    assert [m.rule.id for m in active_matches(index, text("ab"), now=NOW)] == [1, 2]


# --- the index itself ----------------------------------------------------------------------


def test_counts_rules_and_keywords():
    index = RuleIndex.build(
        [
            rule(1, keyword("a"), keyword("b", CONTAINS), keyword("c+", REGEX)),
            rule(2, Trigger(kind=SUBSCRIBE)),
            rule(3),
        ]
    )
    assert (index.rule_count, index.keyword_count) == (2, 3)


def test_index_cannot_be_changed_after_build():
    index = RuleIndex.build([rule(1, keyword("a"))])
    with pytest.raises(AttributeError):
        index._exact = {}


def test_find_from_many_threads_agrees():
    rules = [rule(n, keyword(f"k{n}", CONTAINS), keyword(rf"^x{n}\b", REGEX)) for n in range(200)]
    index = RuleIndex.build(rules)
    queries = [text(f"say k{n} now") for n in range(200)] + [text(f"x{n} y") for n in range(200)]
    expected = [index.find(query, now=NOW).rule.id for query in queries]
    results = []

    def work():
        results.append([index.find(query, now=NOW).rule.id for query in queries])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 8


# --- property: the index agrees with a slow, obvious matcher -------------------------------

REFERENCE_EVENTS = {"click", "scancode_push", "pic_weixin", "location_select"}


def reference_strength(trigger, query, normalized):
    """Return (strength, keyword length) if `trigger` answers `query`, else None."""
    event_name = query.event.lower() if query.msg_type == "event" else None
    if trigger.kind == KEYWORD:
        if not normalized:
            return None
        if trigger.match == REGEX:
            found = compile_pattern(trigger.value).search(normalized)
            return (40, 0) if found else None
        word = normalize_text(trigger.value)
        if not word:
            return None
        if trigger.match == EXACT and normalized == word:
            return (100, len(word))
        if trigger.match == PREFIX and normalized.startswith(word):
            return (80, len(word))
        if trigger.match == CONTAINS and word in normalized:
            return (60, len(word))
        return None
    if trigger.kind == SUBSCRIBE and event_name == "subscribe":
        if not trigger.value:
            return (50, 0)
        return (100, 0) if query.event_key == "qrscene_" + trigger.value else None
    if trigger.kind == SCAN and event_name == "scan":
        if not trigger.value:
            return (50, 0)
        return (100, 0) if query.event_key == trigger.value else None
    if (
        trigger.kind == CLICK
        and event_name in REFERENCE_EVENTS
        and query.event_key == trigger.value
    ):
        return (100, 0)
    if trigger.kind == MSG_TYPE and event_name is None and query.msg_type == trigger.value.lower():
        return (30, 0)
    if trigger.kind == DEFAULT and event_name is None:
        return (0, 0)
    return None


def reference_candidates(rules, query, now):
    """Return [(rule id, trigger, strength, active)] in winning order, the slow way."""
    normalized = normalize_text(query.text)
    ranked = []
    for rule_spec in rules:
        best = None
        for trigger in rule_spec.triggers:
            found = reference_strength(trigger, query, normalized)
            if found is None:
                continue
            place = (trigger.kind == DEFAULT, -found[0], -found[1])
            if best is None or place < best[0]:
                best = (place, trigger, found[0])
        if best is not None:
            (is_default, strength, length), trigger, _ = best
            key = (
                is_default,
                -rule_spec.priority,
                strength,
                length,
                rule_spec.created_at,
                rule_spec.id,
            )
            active = rule_spec.schedule is None or rule_spec.schedule.is_active(now)
            ranked.append((key, (rule_spec.id, trigger, best[2], active)))
    return [item for _, item in sorted(ranked, key=lambda pair: pair[0])]


WORDS = st.text(alphabet="abAＡ你好1１ ", max_size=4)
PATTERNS = st.sampled_from(
    [r"a+b", r"^a", r"b$", r"(a|b)+好", r"\d", r"你.好", r"(a+)+$", r"A", r"^$"]
)
TRIGGERS = st.one_of(
    st.builds(
        Trigger,
        kind=st.just(KEYWORD),
        value=WORDS,
        match=st.sampled_from([EXACT, PREFIX, CONTAINS]),
    ),
    st.builds(Trigger, kind=st.just(KEYWORD), value=PATTERNS, match=st.just(REGEX)),
    st.builds(Trigger, kind=st.just(SUBSCRIBE), value=st.sampled_from(["", "1", "x"])),
    st.builds(Trigger, kind=st.just(SCAN), value=st.sampled_from(["", "1"])),
    st.builds(Trigger, kind=st.just(CLICK), value=st.sampled_from(["K", "k"])),
    st.builds(Trigger, kind=st.just(MSG_TYPE), value=st.sampled_from(["image", "text", "Voice"])),
    st.builds(Trigger, kind=st.just(DEFAULT)),
)
SCHEDULES = st.sampled_from(
    [
        None,
        Schedule(daily_from=time(9), daily_until=time(18)),
        Schedule(daily_from=time(18), daily_until=time(9)),
        Schedule(ends_at=NOW),
        Schedule(starts_at=NOW),
    ]
)
QUERIES = st.one_of(
    st.builds(
        Query,
        msg_type=st.sampled_from(["text", "voice"]),
        text=st.text(alphabet="abAＡ你好1１ x", max_size=8),
    ),
    st.builds(Query, msg_type=st.sampled_from(["image", "voice", "location"])),
    st.builds(
        Query,
        msg_type=st.just("event"),
        event=st.just("subscribe"),
        event_key=st.sampled_from(["", "qrscene_1", "qrscene_x", "1"]),
    ),
    st.builds(
        Query,
        msg_type=st.just("event"),
        event=st.just("scan"),
        event_key=st.sampled_from(["1", "2"]),
    ),
    st.builds(
        Query,
        msg_type=st.just("event"),
        event=st.sampled_from(sorted(REFERENCE_EVENTS) + ["view"]),
        event_key=st.sampled_from(["K", "k"]),
    ),
)


@st.composite
def rule_sets(draw):
    count = draw(st.integers(min_value=0, max_value=8))
    return [
        RuleSpec(
            id=draw(st.integers(min_value=1, max_value=5)) * 100 + number,
            name=f"rule {number}",
            priority=draw(st.integers(min_value=0, max_value=2)),
            created_at=BASE + timedelta(days=draw(st.integers(min_value=0, max_value=2))),
            triggers=tuple(draw(st.lists(TRIGGERS, max_size=4))),
            schedule=draw(SCHEDULES),
        )
        for number in range(count)
    ]


@settings(max_examples=400, deadline=None)
@given(
    rules=rule_sets(),
    query=QUERIES,
    hour=st.sampled_from([3, 9, 12, 18]),
    day=st.sampled_from([-1, 0]),
)
def test_index_agrees_with_brute_force_reference(rules, query, hour, day):
    now = NOW.replace(hour=hour) + timedelta(days=day)
    index = RuleIndex.build(rules)
    expected = reference_candidates(rules, query, now)
    explained = [
        (m.rule.id, m.trigger, m.strength, active) for m, active in index.explain(query, now=now)
    ]
    assert explained == expected
    found = index.find(query, now=now)
    winners = [item for item in expected if item[3]]
    if winners:
        assert (found.rule.id, found.trigger, found.strength) == winners[0][:3]
    else:
        assert found is None
    assert [m.rule.id for m in active_matches(index, query, now=now)] == [
        item[0] for item in winners
    ]
