"""The Simplified Chinese catalogue: complete, compiled, current with the code, and in use.

replies/locale/zh_Hans/LC_MESSAGES/django.po is refreshed and compiled by
bin/update_translations.sh; its terms are in replies/locale/glossary.md. When one of these tests
fails after strings changed in the code, run that script and translate what it lists.
"""

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "replies" / "locale"
PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
GLOSSARY = LOCALE / "glossary.md"
# The options of bin/update_translations.sh.
MAKEMESSAGES = [
    "makemessages",
    "-l",
    "zh_Hans",
    "--ignore=.venv",
    "--ignore=bench",
    "--ignore=tests",
    "--no-obsolete",
]
UPDATE_HINT = "run bin/update_translations.sh and translate what it lists"


# --- a small .po reader (no polib in the requirements) -----------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    where: str = ""

    @property
    def key(self):
        return (self.msgctxt, self.msgid, self.msgid_plural)

    def __str__(self):
        return f"{self.msgid!r} ({self.where or 'no reference'})"


def read_po(path: Path) -> list[Entry]:
    """Return the entries of a .po file, the header (msgid "") first; obsolete ones are left out."""
    entries: list[Entry] = []
    entry, target, obsolete = None, None, set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            entry, target = None, None
            continue
        if entry is None:
            entry = Entry()
            entries.append(entry)
        if line.startswith("#~"):
            obsolete.add(id(entry))
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#:"):
            entry.where = entry.where or line[2:].split()[0]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            text = ast.literal_eval(line)
            if isinstance(target, int):
                entry.msgstr[target] += text
            else:
                setattr(entry, target, getattr(entry, target) + text)
        else:
            match = re.fullmatch(
                r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")', line
            )
            assert match, f"{path}:{number}: cannot read {line!r}"
            keyword, index, text = match.group(1), match.group(2), ast.literal_eval(match.group(3))
            if keyword == "msgstr":
                target = int(index or 0)
                entry.msgstr[target] = text
            else:
                target = keyword
                setattr(entry, keyword, text)
    return [entry for entry in entries if id(entry) not in obsolete]


def messages(path: Path) -> list[Entry]:
    return [entry for entry in read_po(path) if entry.msgid or entry.msgctxt]


def header(path: Path) -> dict[str, str]:
    head = read_po(path)[0]
    assert head.msgid == "" and head.msgctxt is None, f"{path} starts without a header"
    return dict(line.split(": ", 1) for line in head.msgstr[0].splitlines() if ": " in line) | {
        "#flags": ",".join(sorted(head.flags))
    }


# --- (a) the compiled catalogue is there, current and usable ------------------------------------


def test_django_looks_for_zh_hans_where_the_catalogue_is():
    assert translation.to_locale(django_settings.LANGUAGE_CODE) == "zh_Hans"
    assert LOCALE in [Path(path) for path in django_settings.LOCALE_PATHS]
    assert PO.is_file(), f"{PO} is missing: {UPDATE_HINT}"


def test_header_declares_simplified_chinese():
    head = header(PO)
    assert "fuzzy" not in head["#flags"], "the header is still marked fuzzy"
    assert head["Language"] == "zh_Hans"
    assert head["Content-Type"] == "text/plain; charset=UTF-8"
    assert head["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_compiled_catalogue_matches_the_po():
    assert MO.is_file(), f"{MO} is missing: {UPDATE_HINT} (django.mo is committed)"
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in messages(PO):
        if "fuzzy" in entry.flags or not all(entry.msgstr.values()):
            continue  # msgfmt leaves these out, and test_every_entry_is_translated fails
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected[msgid] = entry.msgstr[0]
        else:
            expected.update({(msgid, n): text for n, text in entry.msgstr.items()})
    compiled = {key: value for key, value in compiled.items() if key != ""}
    stale = {
        key for key in expected.keys() | compiled.keys() if expected.get(key) != compiled.get(key)
    }
    assert not stale, f"django.mo differs from django.po on {sorted(map(str, stale))[:10]}: " + (
        UPDATE_HINT
    )


def test_runtime_translates_with_the_compiled_catalogue():
    with translation.override("zh-hans"):
        assert translation.gettext("reply rule") == "回复规则"
        for count in (1, 5):
            text = translation.ngettext(
                "%(count)d rule updated.", "%(count)d rules updated.", count
            )
            assert text % {"count": count} == f"已更新 {count} 条规则。"
    with translation.override("en"):
        assert translation.gettext("reply rule") == "reply rule"


# --- (b) every entry is translated, and keeps what the code fills in ---------------------------


def test_every_entry_is_translated():
    entries = messages(PO)
    assert entries, f"{PO} has no entries"
    fuzzy = [str(entry) for entry in entries if "fuzzy" in entry.flags]
    empty = [str(entry) for entry in entries if not all(entry.msgstr.values())]
    assert not fuzzy, f"{len(fuzzy)} fuzzy entries, check and unflag them: {fuzzy}"
    assert not empty, f"{len(empty)} untranslated entries ({UPDATE_HINT}): {empty}"
    plural = [str(entry) for entry in entries if entry.msgid_plural and set(entry.msgstr) != {0}]
    assert not plural, f"Chinese has one plural form: only msgstr[0] in {plural}"


PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[ds]|\{\w*\}")
TAG = re.compile(r"</?\w+[^>]*>")


@pytest.mark.parametrize("pattern", [PLACEHOLDER, TAG], ids=["placeholders", "html tags"])
def test_translations_keep_placeholders_and_markup(pattern):
    wrong = []
    for entry in messages(PO):
        source = entry.msgid_plural or entry.msgid
        for text in entry.msgstr.values():
            if text and sorted(pattern.findall(text)) != sorted(pattern.findall(source)):
                wrong.append(f"{entry}: {text!r}")
    assert not wrong, "\n".join(wrong)


def glossary() -> dict[str, str]:
    """The glossary's table rows: English term -> the Simplified Chinese chosen for it."""
    terms = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) >= 2 and not set(cells[0]) <= set("-: "):
            terms[cells[0]] = cells[1]
    return terms


def test_whole_messages_that_are_glossary_terms_use_the_glossary():
    terms = glossary()
    assert "reply rule" in terms, f"{GLOSSARY} has no table of terms"
    wrong = [
        f"{entry}: {entry.msgstr[0]!r}, glossary says {terms[entry.msgid]!r}"
        for entry in messages(PO)
        if entry.msgid in terms and entry.msgstr[0] != terms[entry.msgid]
    ]
    assert not wrong, "\n".join(wrong)


# --- (c) the catalogue has every string of the code, and nothing else --------------------------


def test_catalogue_is_current_with_the_code(tmp_path):
    """Extract the strings with Django's makemessages from a copy of the project, and compare."""
    if not all(shutil.which(tool) for tool in ("xgettext", "msgmerge", "msguniq")):
        pytest.skip("GNU gettext is not installed (apt-get install gettext)")
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".*", "__pycache__", "bench", "tests", "staticfiles", "spool", "locale", "*.sqlite3*"
        ),
    )
    before = PO.read_bytes()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTHON")
    } | {"DJANGO_SETTINGS_MODULE": "wxsite.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert PO.read_bytes() == before, "makemessages in the copy wrote to the real catalogue"
    fresh = {entry.key: entry for entry in messages(copy / PO.relative_to(ROOT))}
    committed = {entry.key: entry for entry in messages(PO)}
    missing = [str(fresh[key]) for key in fresh.keys() - committed.keys()]
    stale = [str(committed[key]) for key in committed.keys() - fresh.keys()]
    assert not missing, f"{len(missing)} strings of the code not in django.po ({UPDATE_HINT}): " + (
        "; ".join(sorted(missing))
    )
    assert not stale, f"{len(stale)} entries no longer in the code ({UPDATE_HINT}): " + (
        "; ".join(sorted(stale))
    )


# --- (d) the admin speaks Chinese by default, English when asked -------------------------------


@pytest.fixture(autouse=True)
def _restore_language():
    language = translation.get_language()
    yield
    if language:
        translation.activate(language)
    else:
        translation.deactivate()


def test_admin_is_in_simplified_chinese_by_default(admin_client):
    rules = admin_client.get(reverse("admin:replies_replyrule_changelist"))
    assert rules.status_code == 200
    html = rules.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "回复规则" in html and "规则测试" in html and "由哪条规则回复" in html
    assert "Reply rules" not in html and "Which rule answers" not in html

    log = admin_client.get(reverse("admin:replies_message_changelist"))
    assert log.status_code == 200
    html = log.content.decode()
    assert "消息记录" in html and "导出 CSV" in html and "是否回复" in html
    assert "Export CSV" not in html


@pytest.mark.parametrize("accept", ["zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans", "zh"])
def test_admin_is_in_simplified_chinese_for_chinese_browsers(admin_client, accept):
    html = admin_client.get(
        reverse("admin:replies_replyrule_changelist"), HTTP_ACCEPT_LANGUAGE=accept
    ).content.decode()
    assert '<html lang="zh-hans"' in html and "回复规则" in html


def test_admin_is_in_english_when_asked(admin_client, settings):
    settings.LANGUAGE_CODE = "en"
    rules = admin_client.get(
        reverse("admin:replies_replyrule_changelist"), HTTP_ACCEPT_LANGUAGE="en"
    )
    html = rules.content.decode()
    assert '<html lang="en"' in html
    assert "Reply rules" in html and "Rule tester" in html and "Which rule answers" in html
    assert "回复规则" not in html

    log = admin_client.get(reverse("admin:replies_message_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    html = log.content.decode()
    assert "Messages" in html and "Export CSV" in html and "消息记录" not in html
