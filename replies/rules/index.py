"""Compile the operators' auto-reply rules into an index that finds the winning rule fast.

Every incoming message and event is matched against every enabled rule, so this module turns a
list of plain `RuleSpec` values into a `RuleIndex` once (per worker, per rule edit) and answers
each `Query` with a few dictionary look-ups, one Aho-Corasick pass and one RE2 set pass, however
many rules there are. It knows nothing of Django: the caller converts models into the frozen
dataclasses below and decides when to rebuild.

Which triggers answer which query:

- KEYWORD triggers answer any query whose normalized text is not empty (text messages, and voice
  messages with speech recognition). Keywords and texts are compared after `normalize_text`
  (NFKC, case folding, surrounding whitespace removed), so "ＨＥＬＬＯ" matches "hello".
  EXACT: the text equals the keyword. PREFIX: the text starts with it. CONTAINS: the keyword
  occurs in the text. REGEX: the pattern (RE2 syntax, case-insensitive) is found anywhere in the
  normalized text; anchor it with ^ and $ to match the whole text.
- SUBSCRIBE: a follow. An empty value answers every follow; value "X" only a follow by scanning
  QR scene X (EventKey "qrscene_X").
- SCAN: a follower who already follows scanned a QR code. An empty value answers every scan;
  value "X" only EventKey "X".
- CLICK: a menu event (click, scancode_push, scancode_waitmsg, pic_sysphoto, pic_photo_or_album,
  pic_weixin, location_select) whose EventKey equals the value exactly, case included.
- MSG_TYPE: a message (never an event) of that type: image, voice, video, shortvideo, location,
  link, miniprogrampage, text...
- DEFAULT: any message that is not an event, and only when nothing else matched.

Which rule wins, in this order:

1. Any other rule beats a default rule, whatever the priorities.
2. Higher priority.
3. Stronger match: exact keyword, menu key, QR scene = 100; prefix = 80; contains = 60;
   any follow / any scan = 50; regex = 40; message type = 30; default = 0.
4. Longer keyword (more specific). Regexes and non-keyword triggers count as length 0.
5. Older rule (created_at), then lower id.

A rule takes part once, with its best-placed matching trigger. A rule whose schedule is not active
at the time of the message is passed over and the next one wins. Rules and triggers that cannot
be indexed (a regex RE2 refuses, an unknown kind or mode, an empty keyword) are logged on the
"replies.rules" logger and left out; building never fails because of one bad rule.
"""

import logging
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import ahocorasick
import re2

from replies.protocol.vocabulary import MENU_EVENTS, Event, MsgType, qr_scene

logger = logging.getLogger("replies.rules")

# Trigger kinds, declared here once (the Trigger model's choices name these values). A follow and
# a QR scan trigger carry WeChat's event names; a menu-click trigger answers every MENU_EVENTS.
KEYWORD = "keyword"
SUBSCRIBE = Event.SUBSCRIBE.value
CLICK = Event.CLICK.value
SCAN = Event.SCAN.value
MSG_TYPE = "msg_type"
DEFAULT = "default"

# Keyword match modes.
EXACT = "exact"
CONTAINS = "contains"
PREFIX = "prefix"
REGEX = "regex"
MATCH_MODES = frozenset({EXACT, CONTAINS, PREFIX, REGEX})

# Match strengths, the third key of the winning order.
STRENGTH_EXACT = 100
STRENGTH_EVENT_KEY = 100  # CLICK, SCAN with a value, SUBSCRIBE with a scene
STRENGTH_PREFIX = 80
STRENGTH_CONTAINS = 60
STRENGTH_ANY_EVENT = 50  # SUBSCRIBE or SCAN with an empty value
STRENGTH_REGEX = 40
STRENGTH_MSG_TYPE = 30
STRENGTH_DEFAULT = 0

# One RE2 set holds every regex; its DFA gets a larger budget than a single pattern because it
# runs hundreds of them at once. Memory is only taken as the DFA actually grows.
REGEX_SET_MAX_MEM = 32 << 20

_EPOCH_AWARE = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def normalize_text(text: str) -> str:
    """Return `text` as keywords and messages are compared: NFKC, case-folded, stripped.

    NFKC turns full-width letters, digits and punctuation into their ordinary forms, so
    "ＨＥＬＬＯ１２３" becomes "hello123".
    """
    return unicodedata.normalize("NFKC", text).casefold().strip()


@dataclass(frozen=True)
class Schedule:
    """When a rule may answer: an optional date range and an optional daily window.

    `starts_at` (inclusive) and `ends_at` (exclusive) are aware datetimes. `daily_from`
    (inclusive) and `daily_until` (exclusive) are naive local wall-clock times; a window whose
    start is later than its end wraps past midnight (18:00-09:00 is "out of office"), equal
    bounds make an empty window, and a missing bound leaves that side open.
    """

    starts_at: datetime | None = None
    ends_at: datetime | None = None
    daily_from: time | None = None
    daily_until: time | None = None

    def __post_init__(self):
        # Fail when the schedule is made, not with a TypeError on every message later.
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"Schedule.{name} must be an aware datetime, got {value!r}.")
        for name in ("daily_from", "daily_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                raise ValueError(f"Schedule.{name} must be a naive wall-clock time, got {value!r}.")

    def is_active(self, now: datetime) -> bool:
        """Return whether the schedule allows replies at `now` (aware, in the local time zone)."""
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        start, end = self.daily_from, self.daily_until
        if start is None and end is None:
            return True
        wall = now.time()
        if start is None:
            return wall < end
        if end is None:
            return wall >= start
        if start < end:
            return start <= wall < end
        if start > end:
            return wall >= start or wall < end
        return False


@dataclass(frozen=True)
class Trigger:
    """One way a rule can be triggered: a keyword, a follow, a menu key, a scan, a type."""

    kind: str
    value: str = ""
    match: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """A reply rule as the index sees it; `payload` is carried through to the match untouched."""

    id: int
    name: str
    priority: int
    created_at: datetime
    triggers: tuple[Trigger, ...]
    schedule: Schedule | None = None
    account_id: int | None = None  # the account it answers on; None: every account
    # Replies may be unhashable and long: keep them out of hashing, equality and logs.
    payload: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Query:
    """What an incoming message offers to the rules; `msg_type` and `event` in lower case."""

    msg_type: str
    event: str = ""
    event_key: str = ""
    text: str = ""


@dataclass(frozen=True)
class RuleMatch:
    """A rule that answers a query, the trigger that made it answer, and the match strength."""

    rule: RuleSpec
    trigger: Trigger
    strength: int


class InvalidPattern(ValueError):
    """A staff regex that RE2 cannot compile; `code` says why, the message says it in English."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def _pattern_options(*, max_mem: int | None = None) -> re2.Options:
    options = re2.Options()
    # Texts are case-folded, so a pattern written with capitals must still match them.
    options.case_sensitive = False
    # Errors reach the caller as InvalidPattern; RE2 must not also print them to stderr.
    options.log_errors = False
    if max_mem is not None:
        options.max_mem = max_mem
    return options


_PATTERN_OPTIONS = _pattern_options()

_LINEAR_TIME = "patterns run on RE2, which matches in linear time and never backtracks"


def _explain_pattern_error(pattern: str, detail: str) -> InvalidPattern:
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        return InvalidPattern(
            f"Backreferences such as {detail.rsplit(' ', 1)[-1]} are not supported: "
            f"{_LINEAR_TIME}, so it cannot refer back to a group.",
            code="backreference",
        )
    if detail.startswith("invalid perl operator: (?P") and "(?P=" in pattern:
        return InvalidPattern(
            f"Named backreferences such as (?P=name) are not supported: {_LINEAR_TIME}, "
            "so it cannot refer back to a group.",
            code="backreference",
        )
    if detail.split(": ", 1)[-1] in {"(?=", "(?!", "(?<=", "(?<!"}:
        return InvalidPattern(
            "Lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...)) are not "
            f"supported: {_LINEAR_TIME}. Match the surrounding text instead.",
            code="lookaround",
        )
    possessive = detail.startswith("bad repetition operator: ") and detail.endswith("+")
    if detail == "invalid perl operator: (?>" or possessive:
        return InvalidPattern(
            "Atomic groups (?>...) and possessive quantifiers (++, *+, ?+) are not supported "
            f"and not needed: {_LINEAR_TIME}.",
            code="possessive",
        )
    if detail == "invalid escape sequence: \\Z":
        return InvalidPattern("Write \\z, not \\Z, for the end of the text.", code="syntax")
    if detail.startswith("pattern too large"):
        return InvalidPattern(
            "The pattern is too large to compile; shorten it or lower its repetition counts.",
            code="too_large",
        )
    return InvalidPattern(f"Not a valid regular expression: {detail}.", code="syntax")


def compile_pattern(pattern: str) -> "re2._Regexp":
    """Compile a staff regex with RE2 and return it, or raise InvalidPattern saying why not.

    RE2 matches in time linear in the text, so no pattern (not even `(a+)+$`) can stall a
    worker; the price is that backreferences and lookarounds are refused. The pattern is
    case-insensitive and meant to be searched in `normalize_text(text)`.
    """
    if not pattern:
        raise InvalidPattern("The pattern is empty; it would match every message.", code="empty")
    try:
        return re2.compile(pattern, _PATTERN_OPTIONS)
    except re2.error as error:
        # google-re2 reports every refusal as re2.error with RE2's own message as bytes (it has
        # no fallback to Python's re), so this is the one place where a pattern can fail.
        detail = error.args[0] if error.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise _explain_pattern_error(pattern, str(detail)) from None


def _new_regex_set() -> re2.Set:
    return re2.Set.SearchSet(_pattern_options(max_mem=REGEX_SET_MAX_MEM))


def _created_key(created_at: datetime) -> int:
    # An integer sorts mixed naive and aware values without a TypeError that would sink build().
    epoch = _EPOCH_NAIVE if created_at.utcoffset() is None else _EPOCH_AWARE
    return (created_at - epoch) // _MICROSECOND


class _Skip(Exception):
    """Leave one trigger out of the index, with the reason as the message."""


def _classify(trigger: Trigger) -> tuple[str, Any, int, int]:
    """Return (bucket, key, strength, keyword length) for one trigger, or raise _Skip."""
    kind = trigger.kind
    value = trigger.value
    if kind == KEYWORD:
        mode = trigger.match
        if mode not in MATCH_MODES:
            raise _Skip(f"unknown keyword match mode {mode!r}")
        if mode == REGEX:
            # InvalidPattern propagates: it skips the whole rule, not just this trigger.
            return REGEX, (value, compile_pattern(value)), STRENGTH_REGEX, 0
        keyword = normalize_text(value)
        if not keyword:
            raise _Skip(f"keyword {value!r} is empty once normalized")
        strength = {EXACT: STRENGTH_EXACT, PREFIX: STRENGTH_PREFIX, CONTAINS: STRENGTH_CONTAINS}
        return mode, keyword, strength[mode], len(keyword)
    if kind == SUBSCRIBE:
        if value:
            return "subscribe_scene", value, STRENGTH_EVENT_KEY, 0
        return "subscribe_any", None, STRENGTH_ANY_EVENT, 0
    if kind == SCAN:
        if value:
            return "scan_key", value, STRENGTH_EVENT_KEY, 0
        return "scan_any", None, STRENGTH_ANY_EVENT, 0
    if kind == CLICK:
        return CLICK, value, STRENGTH_EVENT_KEY, 0
    if kind == MSG_TYPE:
        msg_type = value.strip().lower()
        if not msg_type or msg_type == MsgType.EVENT:
            raise _Skip(f"message type {value!r} cannot be matched (events have their own kinds)")
        return "msg_type", msg_type, STRENGTH_MSG_TYPE, 0
    if kind == DEFAULT:
        return DEFAULT, None, STRENGTH_DEFAULT, 0
    raise _Skip(f"unknown trigger kind {kind!r}")


def _classify_rule(rule: RuleSpec) -> list[tuple]:
    """Return (trigger number, trigger, bucket, key, strength, length) per usable trigger.

    Log and leave out triggers that cannot match; let InvalidPattern through, as a regex that
    does not compile leaves the whole rule out.
    """
    classified = []
    for trigger_number, trigger in enumerate(rule.triggers):
        try:
            classified.append((trigger_number, trigger, *_classify(trigger)))
        except _Skip as reason:
            logger.warning(
                "Reply rule %s (%r): trigger %r left out: %s.", rule.id, rule.name, trigger, reason
            )
    return classified


class RuleIndex:
    """An immutable, thread-safe index of reply rules; make one with `RuleIndex.build()`."""

    __slots__ = (
        "_entries",
        "_exact",
        "_prefix",
        "_prefix_lengths",
        "_contains",
        "_regexes",
        "_regex_set",
        "_regex_set_ranks",
        "_first_regex_rank",
        "_subscribe_any",
        "_subscribe_scene",
        "_scan_any",
        "_scan_key",
        "_click",
        "_msg_type",
        "_defaults",
        "_rule_count",
        "_keyword_count",
    )

    def __setattr__(self, name, value):
        # Readers in other threads rely on an index never changing once built.
        raise AttributeError(f"RuleIndex is immutable; cannot set {name!r}")

    @classmethod
    def build(cls, rules: Iterable[RuleSpec]) -> "RuleIndex":
        """Compile `rules` into an index; log and leave out what cannot be compiled."""
        sort_keys = []
        staged = []
        rule_count = 0
        keyword_count = 0
        for position, rule in enumerate(rules):
            try:
                classified = _classify_rule(rule)
                priority = -rule.priority
                created = _created_key(rule.created_at)
            except InvalidPattern as error:
                logger.warning(
                    "Reply rule %s (%r) left out: its regex does not compile: %s",
                    rule.id,
                    rule.name,
                    error,
                )
                continue
            except Exception:
                # One malformed rule must not leave every follower without replies.
                logger.exception(
                    "Reply rule %s (%r) left out: it could not be indexed.", rule.id, rule.name
                )
                continue
            if not classified:
                continue
            rule_count += 1
            for trigger_number, trigger, bucket, key, strength, length in classified:
                if trigger.kind == KEYWORD:
                    keyword_count += 1
                sort_keys.append(
                    (
                        bucket == DEFAULT,
                        priority,
                        -strength,
                        -length,
                        created,
                        rule.id,
                        position,
                        trigger_number,
                    )
                )
                staged.append((rule, trigger, strength, position, bucket, key))

        # A rank is a place in the winning order, so a query only compares small integers.
        entries = tuple(staged[i] for i in sorted(range(len(staged)), key=sort_keys.__getitem__))
        del sort_keys, staged
        buckets: dict[str, dict[Any, list[int]]] = {}
        regexes = []
        for rank, (_, _, _, _, bucket, key) in enumerate(entries):
            if bucket == REGEX:
                regexes.append((rank, *key))
            else:
                buckets.setdefault(bucket, {}).setdefault(key, []).append(rank)

        def lookup(bucket: str) -> dict[Any, tuple[int, ...]]:
            return {key: tuple(ranks) for key, ranks in buckets.get(bucket, {}).items()}

        def anywhere(bucket: str) -> tuple[int, ...]:
            return lookup(bucket).get(None, ())

        index = object.__new__(cls)
        init = object.__setattr__
        init(index, "_entries", entries)
        init(index, "_exact", lookup(EXACT))
        prefix = lookup(PREFIX)
        init(index, "_prefix", prefix)
        init(index, "_prefix_lengths", tuple(sorted({len(keyword) for keyword in prefix})))
        init(index, "_contains", _build_automaton(lookup(CONTAINS)))
        init(index, "_regexes", tuple((rank, compiled) for rank, _, compiled in regexes))
        regex_set, regex_set_ranks = _build_regex_set(regexes)
        init(index, "_regex_set", regex_set)
        init(index, "_regex_set_ranks", regex_set_ranks)
        init(index, "_first_regex_rank", regexes[0][0] if regexes else len(entries))
        init(index, "_subscribe_any", anywhere("subscribe_any"))
        init(index, "_subscribe_scene", lookup("subscribe_scene"))
        init(index, "_scan_any", anywhere("scan_any"))
        init(index, "_scan_key", lookup("scan_key"))
        init(index, "_click", lookup(CLICK))
        init(index, "_msg_type", lookup("msg_type"))
        init(index, "_defaults", anywhere(DEFAULT))
        init(index, "_rule_count", rule_count)
        init(index, "_keyword_count", keyword_count)
        return index

    @property
    def rule_count(self) -> int:
        """Return how many rules can match: not those left out at build or without a trigger."""
        return self._rule_count

    @property
    def keyword_count(self) -> int:
        """Return how many keyword triggers (all modes, regexes included) the index holds."""
        return self._keyword_count

    def __repr__(self):
        return f"<RuleIndex rules={self._rule_count} keywords={self._keyword_count}>"

    def find(self, query: Query, *, now: datetime) -> RuleMatch | None:
        """Return the winning rule for `query` at `now`, or None when no rule answers."""
        text = normalize_text(query.text) if query.text else ""
        hits = self._plain_hits(query, text=text)
        best = None
        if hits:
            # Most rules have no schedule, so the lowest rank usually wins outright; sort only
            # when it is switched off.
            first = min(hits)
            if self._is_active(first, now=now):
                best = first
            else:
                later = sorted(rank for rank in set(hits) if rank > first)
                best = next((rank for rank in later if self._is_active(rank, now=now)), None)
        # Regexes are the slowest step: skip them when none could beat what already won.
        if text and self._regexes and (best is None or best > self._first_regex_rank):
            for rank in self._regex_hits(text, below=best):
                if self._is_active(rank, now=now):
                    best = rank
                    break
        return None if best is None else self._match(rank=best)

    def explain(self, query: Query, *, now: datetime) -> list[tuple[RuleMatch, bool]]:
        """Return every matching rule in winning order, with whether it is scheduled at `now`.

        Each rule appears once, with its best-placed trigger. The first active one is what
        `find()` returns; the inactive ones tell the admin why a rule did not answer.
        """
        text = normalize_text(query.text) if query.text else ""
        hits = self._plain_hits(query, text=text)
        if text and self._regexes:
            hits.extend(self._regex_hits(text, below=None))
        explained = []
        seen = set()
        for rank in sorted(set(hits)):
            position = self._entries[rank][3]
            if position not in seen:
                seen.add(position)
                explained.append((self._match(rank=rank), self._is_active(rank, now=now)))
        return explained

    def _plain_hits(self, query: Query, *, text: str) -> list[int]:
        """Return the ranks of matching entries other than regexes, unordered, maybe repeated."""
        hits: list[int] = []
        if text:
            found = self._exact.get(text)
            if found:
                hits.extend(found)
            if self._prefix:
                prefix = self._prefix
                size = len(text)
                for length in self._prefix_lengths:
                    if length > size:
                        break
                    found = prefix.get(text[:length])
                    if found:
                        hits.extend(found)
            if self._contains is not None:
                for _, found in self._contains.iter(text):
                    hits.extend(found)
        msg_type = query.msg_type.lower()
        if msg_type == MsgType.EVENT:
            event = query.event.lower()
            key = query.event_key
            if event == Event.SUBSCRIBE:
                hits.extend(self._subscribe_any)
                scene = qr_scene(event, key)
                if scene:
                    hits.extend(self._subscribe_scene.get(scene, ()))
            elif event == Event.SCAN:
                hits.extend(self._scan_any)
                hits.extend(self._scan_key.get(key, ()))
            elif event in MENU_EVENTS:
                hits.extend(self._click.get(key, ()))
        else:
            hits.extend(self._msg_type.get(msg_type, ()))
            # Defaults rank after every other entry, so they only win when nothing else does.
            hits.extend(self._defaults)
        return hits

    def _regex_hits(self, text: str, *, below: int | None) -> Iterator[int]:
        """Yield the ranks of regex entries that match `text`, ascending, all under `below`."""
        # Lone surrogates cannot be UTF-8; pass them through so they match nothing, not raise.
        encoded = text.encode("utf-8", "surrogatepass")
        if self._regex_set is not None:
            try:
                found = self._regex_set.Match(encoded)
            except Exception:
                logger.exception("The regex set failed; matching one regex at a time.")
            else:
                # Index 0 is a pattern that always matches: without it the set ran out of
                # memory (RE2 reports that as "no match"), so try every regex on its own.
                if found and 0 in found:
                    yield from sorted(
                        rank
                        for number in found
                        for rank in self._regex_set_ranks[number]
                        if below is None or rank < below
                    )
                    return
                logger.warning("The regex set gave up on a text; matching one regex at a time.")
        for rank, compiled in self._regexes:
            if below is not None and rank >= below:
                return
            try:
                matched = compiled.search(encoded) is not None
            except Exception:
                rule = self._entries[rank][0]
                logger.exception("Reply rule %s (%r) failed to match; skipped.", rule.id, rule.name)
                continue
            if matched:
                yield rank

    def _is_active(self, rank: int, *, now: datetime) -> bool:
        rule = self._entries[rank][0]
        if rule.schedule is None:
            return True
        try:
            return rule.schedule.is_active(now)
        except Exception:
            logger.exception(
                "Reply rule %s (%r): schedule check failed; skipped.", rule.id, rule.name
            )
            return False

    def _match(self, *, rank: int) -> RuleMatch:
        rule, trigger, strength, _, _, _ = self._entries[rank]
        return RuleMatch(rule=rule, trigger=trigger, strength=strength)


def _build_automaton(keywords: dict[str, tuple[int, ...]]) -> "ahocorasick.Automaton | None":
    if not keywords:
        return None
    automaton = ahocorasick.Automaton()
    for keyword, ranks in keywords.items():
        automaton.add_word(keyword, ranks)
    automaton.make_automaton()
    return automaton


def _build_regex_set(
    regexes: list[tuple[int, str, Any]],
) -> tuple[Any, tuple[tuple[int, ...], ...]]:
    """Return one RE2 set of every distinct pattern and, per set index, the ranks it stands for.

    Return (None, ()) when there is nothing to put in it or RE2 cannot build it; the index then
    tries each regex on its own, which is slower but still linear-time.
    """
    if not regexes:
        return None, ()
    by_pattern: dict[str, list[int]] = {}
    for rank, pattern, _ in regexes:
        by_pattern.setdefault(pattern, []).append(rank)
    try:
        regex_set = _new_regex_set()
        regex_set.Add("")  # the sentinel that tells "no match" from "gave up", see _regex_hits
        for pattern in by_pattern:
            regex_set.Add(pattern)
        regex_set.Compile()
    except Exception:
        logger.exception(
            "Could not combine %d regexes into one RE2 set; each will be matched on its own.",
            len(by_pattern),
        )
        return None, ()
    return regex_set, ((), *(tuple(ranks) for ranks in by_pattern.values()))
