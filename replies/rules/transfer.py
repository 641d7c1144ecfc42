"""Reply rules in and out as JSON: the document `export_rules` writes and `import_rules` reads.

The document is versioned, `{"format": "wxsite-rules", "version": 1, "rules": [...]}`, one
object per rule with its schedule, triggers and replies, in the order the rules were created
(the order that breaks ties between otherwise equal rules, so a copy behaves the same). Import
identifies rules by name: it creates new ones, updates changed ones and leaves equal ones alone,
so importing a file twice changes nothing the second time. Every rule is validated with the
admin's own forms (replies.rules.forms) before anything is written, and everything is written in one
transaction: an invalid file is refused whole, with a message naming the rule and the field.
The console import and the demo rules go through the same code.

Official accounts: a `RuleScope` says whose rules are read or written — one account's, or the
rules that answer on every account. An export of an account holds the rules that answer on it:
its own, and the every-account ones marked `"every_account": true`, so a copy restores each
where it was. Names identify rules among those that answer on the account: an import updates a
rule of that name where it is (the account's own, or an every-account rule) and creates a new
one in the account it names — or for every account, when the file marks it so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts.environment import environment_account
from accounts.models import Account
from replies.models import REPLY_COLUMNS, ReplyRule, RuleReply, Trigger
from replies.protocol import ARTICLE_FIELDS
from replies.rules.forms import (
    ReplyRuleForm,
    RuleReplyForm,
    RuleReplyFormSet,
    TriggerForm,
    TriggerFormSet,
)
from replies.rules.ruleset import bump_ruleset_version

__all__ = [
    "CREATED",
    "DELETED",
    "FORMAT",
    "UNCHANGED",
    "UPDATED",
    "VERSION",
    "ImportPlan",
    "RuleChange",
    "EVERY_ACCOUNT",
    "RuleScope",
    "RulesFileError",
    "account_scope",
    "apply_rules",
    "dump_document",
    "export_document",
    "load_document",
    "rule_to_dict",
    "validate_rules",
]

FORMAT = "wxsite-rules"
VERSION = 1

# The document holds what the admin's forms edit, so an import validates exactly as the admin.
# The account is not in it: whoever imports a file chooses where its rules go (RuleScope).
RULE_FIELDS = tuple(name for name in ReplyRuleForm.Meta.fields if name != "account")
# Marks a rule that answers on every account (written only when true).
EVERY_ACCOUNT_KEY = "every_account"
TRIGGER_FIELDS = tuple(TriggerForm.Meta.fields)
# In the document a reply's type is "type", as in the protocol's reply_to_dict.
REPLY_FIELDS = tuple(name for name in REPLY_COLUMNS if name != "reply_type")
# A hand-written trigger may leave these out; the match is ignored for other kinds.
TRIGGER_DEFAULTS = {"kind": Trigger.Kind.KEYWORD, "match": Trigger.Match.EXACT}
RULE_KEYS = frozenset(RULE_FIELDS) | {"triggers", "replies", EVERY_ACCOUNT_KEY}
REPLY_KEYS = frozenset(REPLY_FIELDS) | {"type"}


@dataclass(frozen=True)
class RuleScope:
    """Whose rules: one account's (`account`), or, with `account` None, those of every account."""

    account: Account | None

    @property
    def account_id(self) -> int | None:
        return self.account.pk if self.account is not None else None

    def own(self):
        """Return the Q of the rules in this scope."""
        if self.account is None:
            return Q(account__isnull=True)
        return Q(account=self.account)

    def answering(self):
        """Return the Q of the rules that answer in this scope (an account's own and the
        every-account ones; for every account, the every-account ones)."""
        return self.own() | Q(account__isnull=True)

    def __str__(self) -> str:
        return "every account" if self.account is None else f"account {self.account.slug}"


EVERY_ACCOUNT = RuleScope(account=None)


def account_scope(account: Account | None = None) -> RuleScope:
    """Return the scope of `account`'s own rules (the environment account's without one)."""
    if account is None:
        account = environment_account()
    return RuleScope(account=account)


class RulesFileError(Exception):
    """Signal a rules document that cannot be imported; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- out --------------------------------------------------------------------------------------


def export_document(scope: RuleScope | None = None) -> dict[str, Any]:
    """Return the rules that answer in `scope` (the environment account's by default), enabled
    or not, as the versioned document (the every-account ones marked, in an account's export)."""
    scope = scope or account_scope()
    rules = (
        ReplyRule.objects.filter(scope.answering())
        .order_by("created_at", "id")
        .prefetch_related(
            Prefetch("triggers", queryset=Trigger.objects.order_by("id")),
            Prefetch("replies", queryset=RuleReply.objects.order_by("position", "id")),
        )
    )
    entries = []
    for rule in rules:
        entry = rule_to_dict(rule, triggers=rule.triggers.all(), replies=rule.replies.all())
        if rule.account_id is None and scope.account is not None:
            entry[EVERY_ACCOUNT_KEY] = True
        entries.append(entry)
    return {"format": FORMAT, "version": VERSION, "rules": entries}


def dump_document(document: Mapping[str, Any]) -> str:
    """Return the document as the file holds it: UTF-8 text, Chinese unescaped, indent 2."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def rule_to_dict(
    rule: ReplyRule, *, triggers: Iterable[Trigger], replies: Iterable[RuleReply]
) -> dict[str, Any]:
    """Return one rule as a document entry; equal rules give equal entries."""
    return {
        "name": rule.name,
        "enabled": rule.enabled,
        "priority": rule.priority,
        "reply_mode": rule.reply_mode,
        "starts_at": _datetime_to_text(rule.starts_at),
        "ends_at": _datetime_to_text(rule.ends_at),
        "daily_from": _time_to_text(rule.daily_from),
        "daily_until": _time_to_text(rule.daily_until),
        "triggers": [_trigger_to_dict(trigger) for trigger in triggers],
        "replies": [_reply_to_dict(reply) for reply in replies],
    }


def _datetime_to_text(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _time_to_text(value: time | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _trigger_to_dict(trigger: Trigger) -> dict[str, str]:
    data = {"kind": trigger.kind}
    if trigger.match:
        data["match"] = trigger.match
    if trigger.value:
        data["value"] = trigger.value
    return data


def _reply_to_dict(reply: RuleReply) -> dict[str, Any]:
    # Only what the reply uses: a text reply reads {"type": "text", "content": "…"}.
    data: dict[str, Any] = {"type": reply.reply_type}
    for name in REPLY_FIELDS:
        value = getattr(reply, name)
        if name == "articles":
            value = [{key: item.get(key, "") for key in ARTICLE_FIELDS} for item in value or []]
        if value:
            data[name] = value
    return data


# --- in: reading and validating ---------------------------------------------------------------


def load_document(text: str, *, source: str = "the file") -> list[dict[str, Any]]:
    """Return the rules of a document, refusing anything that is not one we can read."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RulesFileError(
            [f"{source} is not JSON: {error.msg} (line {error.lineno}, column {error.colno})."]
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RulesFileError([f'{source} is not a wxsite rules file (no "format": "{FORMAT}").'])
    if document.get("version") != VERSION:
        raise RulesFileError(
            [
                f"{source} has version {document.get('version')!r}; this wxsite reads "
                f"version {VERSION}."
            ]
        )
    rules = document.get("rules")
    if not isinstance(rules, list):
        raise RulesFileError([f'{source} has no "rules" list.'])
    return rules


class ArticleListField(forms.JSONField):
    """News articles as the document holds them: a list of {title, description, pic_url, url}.

    It replaces the admin's one-line-per-article text field, whose `|` separators a title may
    contain. Only the shape is checked here; the form's check_reply judges the articles.
    """

    def to_python(self, value: Any) -> list[dict[str, str]]:
        if value in (None, "", []):
            return []
        if not isinstance(value, list):
            raise ValidationError("Articles must be a list.", code="articles")
        return [self._clean_article(number, item) for number, item in enumerate(value, start=1)]

    def _clean_article(self, number: int, item: Any) -> dict[str, str]:
        if not isinstance(item, dict):
            raise ValidationError(f"Article {number} must be an object.", code="article")
        unknown = sorted(set(item) - set(ARTICLE_FIELDS))
        if unknown:
            raise ValidationError(
                f"Article {number} has unknown key(s): {', '.join(unknown)}.", code="article"
            )
        article = {key: item.get(key) or "" for key in ARTICLE_FIELDS}
        if not all(isinstance(value, str) for value in article.values()):
            raise ValidationError(f"Article {number}: values must be text.", code="article")
        return article

    def prepare_value(self, value: Any) -> Any:
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return initial != data


class ImportedReplyForm(RuleReplyForm):
    """The admin's reply form, with articles read as a JSON list instead of lines of text."""

    articles = ArticleListField(required=False)


@dataclass
class ValidatedRule:
    """A rule of the document that passed the forms: unsaved model instances, and whether the
    document marks it as answering on every account."""

    rule: ReplyRule
    triggers: list[Trigger]
    replies: list[RuleReply]
    every_account: bool = False

    @property
    def name(self) -> str:
        return self.rule.name

    def as_dict(self) -> dict[str, Any]:
        return rule_to_dict(self.rule, triggers=self.triggers, replies=self.replies)


def validate_rules(rules: Sequence[Any]) -> list[ValidatedRule]:
    """Return every rule validated, or raise RulesFileError listing every problem found."""
    problems: list[str] = []
    validated: list[ValidatedRule] = []
    for number, data in enumerate(rules, start=1):
        rule, rule_problems = validate_rule(data, number=number)
        problems += rule_problems
        if rule is not None:
            validated.append(rule)
    counts = Counter((rule.every_account, rule.name) for rule in validated)
    problems += [
        f"{count} rules are named “{name}”: names identify rules, so each must be unique."
        for (_every, name), count in counts.items()
        if count > 1
    ]
    if problems:
        raise RulesFileError(problems)
    return validated


def validate_rule(data: Any, *, number: int) -> tuple[ValidatedRule | None, list[str]]:
    """Return the rule validated with the admin's forms, or None and what is wrong with it."""
    where = f"Rule {number}"
    if not isinstance(data, dict):
        return None, [f"{where} must be an object."]
    if isinstance(data.get("name"), str) and data["name"].strip():
        where = f"Rule {number} “{data['name']}”"
    problems = _unknown_keys(data, RULE_KEYS, where)
    every_account = data.get(EVERY_ACCOUNT_KEY, False)
    if not isinstance(every_account, bool):
        problems.append(f"{where}, {EVERY_ACCOUNT_KEY}: must be true or false.")
    rule_form = ReplyRuleForm(data=_rule_form_data(data))
    problems += _form_problems(rule_form, where)
    triggers = _validate_rows(
        data.get("triggers"),
        where=where,
        label="trigger",
        build=lambda row: TriggerForm(data=_row_data(row, TRIGGER_FIELDS, TRIGGER_DEFAULTS)),
        allowed=frozenset(TRIGGER_FIELDS),
        empty_message=str(TriggerFormSet.empty_message),
        max_rows=TriggerFormSet.max_rows,
        too_many_message=str(
            TriggerFormSet.default_error_messages["too_many_forms"]
            % {"num": TriggerFormSet.max_rows}
        ),
        problems=problems,
    )
    replies = _validate_rows(
        data.get("replies"),
        where=where,
        label="reply",
        build=lambda row: ImportedReplyForm(data=_reply_form_data(row)),
        allowed=REPLY_KEYS,
        empty_message=str(RuleReplyFormSet.empty_message),
        problems=problems,
    )
    if problems:
        return None, problems
    for position, reply in enumerate(replies):
        reply.position = position
    validated = ValidatedRule(
        rule=rule_form.save(commit=False),
        triggers=triggers,
        replies=replies,
        every_account=every_account,
    )
    return validated, []


def _unknown_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> list[str]:
    unknown = sorted(str(key) for key in data if key not in allowed)
    if not unknown:
        return []
    return [f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(allowed))}."]


def _rule_form_data(data: Mapping[str, Any]) -> dict[str, Any]:
    # The model's defaults for what the document leaves out; a missing checkbox means False.
    form_data: dict[str, Any] = {
        "enabled": True,
        "priority": 0,
        "reply_mode": ReplyRule.ReplyMode.RANDOM,
    }
    form_data.update({key: data[key] for key in RULE_FIELDS if data.get(key) is not None})
    return form_data


def _row_data(row: Mapping[str, Any], keys: Iterable[str], defaults: Mapping[str, Any]):
    return {**defaults, **{key: row[key] for key in keys if row.get(key) is not None}}


def _reply_form_data(row: Mapping[str, Any]) -> dict[str, Any]:
    data = _row_data(row, REPLY_FIELDS, {})
    data["reply_type"] = row.get("type") or RuleReply.Type.TEXT
    data["position"] = 0
    return data


def _validate_rows(
    rows: Any,
    *,
    where: str,
    label: str,
    build,
    allowed: frozenset[str],
    empty_message: str,
    problems: list[str],
    max_rows: int | None = None,
    too_many_message: str = "",
) -> list[Any]:
    if rows is None or rows == []:
        problems.append(f"{where}: {empty_message}")
        return []
    if not isinstance(rows, list):
        problems.append(f"{where}: {label}s must be a list.")
        return []
    if max_rows is not None and len(rows) > max_rows:
        # Refused before a form is built for each row: the admin's cap (TriggerFormSet).
        problems.append(f"{where}: {too_many_message} (this one has {len(rows)})")
        return []
    instances = []
    for number, row in enumerate(rows, start=1):
        row_where = f"{where}, {label} {number}"
        if not isinstance(row, dict):
            problems.append(f"{row_where} must be an object.")
            continue
        row_problems = _unknown_keys(row, allowed, row_where)
        form = build(row)
        row_problems += _form_problems(form, row_where)
        if not row_problems:
            instances.append(form.save(commit=False))
        problems += row_problems
    return instances


def _form_problems(form: forms.BaseForm, where: str) -> list[str]:
    problems = []
    for name, errors in form.errors.items():
        # The document calls a reply's type "type"; name fields the way the file does.
        shown = {"reply_type": "type", "__all__": ""}.get(name, name)
        for message in errors:
            problems.append(f"{where}, {shown}: {message}" if shown else f"{where}: {message}")
    return problems


# --- in: planning and writing -----------------------------------------------------------------

CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"


@dataclass(frozen=True)
class RuleChange:
    """What an import does to one rule: created, updated (which parts), unchanged, deleted."""

    name: str
    action: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        detail = f" ({', '.join(self.parts)})" if self.parts else ""
        return f"{self.action:<9} {self.name}{detail}"


@dataclass
class ImportPlan:
    """Every change an import makes, in document order, then the deletions."""

    changes: list[RuleChange] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(change.action == action for change in self.changes)

    @property
    def changed(self) -> bool:
        return any(change.action != UNCHANGED for change in self.changes)

    def summary(self) -> str:
        """Return one line: `5 rules: 2 created, 1 updated, 2 unchanged.`"""
        counts = [
            f"{self.count(action)} {action}"
            for action in (CREATED, UPDATED, UNCHANGED, DELETED)
            if self.count(action)
        ]
        total = len(self.changes)
        return f"{total} rule{'' if total == 1 else 's'}: {', '.join(counts) or 'none'}."


def apply_rules(
    rules: Sequence[Any],
    *,
    scope: RuleScope | None = None,
    replace: bool = False,
    dry_run: bool = False,
) -> ImportPlan:
    """Validate `rules` (document entries) and write them to `scope` (the environment
    account's by default), all or nothing; return the plan.

    Names identify rules among those that answer in the scope: an account's own, then the
    every-account ones. A rule whose name exists there is updated in place (its triggers and
    replies replaced when they differ), staying whose it was; a new one is created in `scope`,
    or for every account when the document marks it "every_account" (a marked rule is matched
    among the every-account rules only). `replace` also deletes the rules answering in the
    scope that the document does not name (every-account ones only while no other account
    answers with them, or for the every-account scope). With `dry_run` nothing is written and
    the plan says what would change.
    """
    validated = validate_rules(rules)
    scope = scope or account_scope()
    named = {rule.name for rule in validated}
    with transaction.atomic():
        own, shared = _existing_rules(scope=scope, names=None if replace else sorted(named))
        plan = ImportPlan()
        touched: set[int | None] = set()
        for incoming in validated:
            if incoming.every_account:
                current, target = shared.pop(incoming.name, None), EVERY_ACCOUNT
            else:
                current, target = own.pop(incoming.name, None), scope
                if current is None and incoming.name in shared:
                    current, target = shared.pop(incoming.name), EVERY_ACCOUNT
            change = _write_rule(incoming, scope=target, current=current, dry_run=dry_run)
            plan.changes.append(change)
            if change.action != UNCHANGED:
                touched.add(target.account_id)
        if replace:
            leftovers = list(own.values())
            if shared is not own and not _others_share(scope):
                # Every-account rules not named go too only when no other account answers with
                # them: replacing one account's rules must not remove another's.
                leftovers += shared.values()
            for rule in leftovers:
                if rule.name in named:
                    continue  # named by the file, which matched its namesake in the other set
                plan.changes.append(RuleChange(rule.name, DELETED))
                touched.add(rule.account_id)
                if not dry_run:
                    rule.delete()
        if plan.changed and not dry_run:
            # An every-account rule's change (None) reaches every account.
            bump_ruleset_version(account_ids=touched)
    return plan


def _others_share(scope: RuleScope) -> bool:
    """Return whether another account also answers with `scope`'s every-account rules."""
    return Account.objects.exclude(pk=scope.account_id).exists()


def _existing_rules(
    *, scope: RuleScope, names: Sequence[str] | None
) -> tuple[dict[str, ReplyRule], dict[str, ReplyRule]]:
    """Return the rules answering in `scope` (named `names`, or all), locked, by name: the
    scope's own, and the every-account ones (the same dict for the every-account scope)."""
    rules = ReplyRule.objects.select_for_update().filter(scope.answering())
    if names is not None:
        rules = rules.filter(name__in=names)
    rules = rules.order_by("created_at", "id").prefetch_related(
        Prefetch("triggers", queryset=Trigger.objects.order_by("id")),
        Prefetch("replies", queryset=RuleReply.objects.order_by("position", "id")),
    )
    own: dict[str, ReplyRule] = {}
    shared: dict[str, ReplyRule] = {} if scope.account is not None else own
    duplicates = []
    for rule in rules:
        by_name = own if rule.account_id is not None else shared
        if rule.name in by_name:
            duplicates.append(rule.name)
        by_name[rule.name] = rule
    if duplicates:
        raise RulesFileError(
            [
                f"Several rules in the database are named “{name}”: rename them in the admin so "
                "that an import knows which one to update."
                for name in sorted(set(duplicates))
            ]
        )
    return own, shared


def _write_rule(
    incoming: ValidatedRule, *, scope: RuleScope, current: ReplyRule | None, dry_run: bool
) -> RuleChange:
    if current is None:
        if not dry_run:
            incoming.rule.account = scope.account
            incoming.rule.save()
            _save_rows(incoming, rule=incoming.rule)
        return RuleChange(incoming.name, CREATED)
    before = rule_to_dict(current, triggers=current.triggers.all(), replies=current.replies.all())
    after = incoming.as_dict()
    parts = tuple(key for key in after if key != "name" and before[key] != after[key])
    if not parts:
        return RuleChange(incoming.name, UNCHANGED)
    if not dry_run:
        for name in RULE_FIELDS:
            setattr(current, name, getattr(incoming.rule, name))
        current.save()
        if "triggers" in parts:
            current.triggers.all().delete()
        if "replies" in parts:
            current.replies.all().delete()
        _save_rows(
            incoming,
            rule=current,
            triggers="triggers" in parts,
            replies="replies" in parts,
        )
    return RuleChange(incoming.name, UPDATED, parts)


def _save_rows(
    incoming: ValidatedRule, *, rule: ReplyRule, triggers: bool = True, replies: bool = True
) -> None:
    # bulk_create sends no signals: the version is bumped once for the whole import.
    if triggers:
        for trigger in incoming.triggers:
            trigger.rule = rule
        Trigger.objects.bulk_create(incoming.triggers)
    if replies:
        for reply in incoming.replies:
            reply.rule = rule
        RuleReply.objects.bulk_create(incoming.replies)
