#!/usr/bin/env bash
# Refresh the Simplified Chinese catalogue after strings changed in the code, compile it, and say
# what is left to translate.
#
#   bin/update_translations.sh          # exit 0: every entry translated, django.mo up to date
#                                       # exit 1: untranslated or fuzzy entries remain (listed)
#
# Then translate the listed entries in replies/locale/zh_Hans/LC_MESSAGES/django.po with the
# terms in replies/locale/glossary.md, remove each "#, fuzzy" flag once its entry is checked, and
# run this script again (it recompiles django.mo, which is committed: the runtime needs no
# gettext). Needs GNU gettext (xgettext, msgmerge, msgfmt, msgattrib): apt-get install gettext.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
PO=replies/locale/zh_Hans/LC_MESSAGES/django.po

for tool in xgettext msgmerge msgfmt msgattrib; do
    command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install gettext" >&2; exit 2; }
done

# The same options as the first extraction: Django's locale name for "zh-hans" is zh_Hans.
"$PYTHON" manage.py makemessages -l zh_Hans --ignore=.venv --ignore=bench --ignore=tests \
    --no-obsolete
"$PYTHON" manage.py compilemessages --ignore=.venv

# msgfmt prints e.g. "221 translated messages, 2 fuzzy translations, 3 untranslated messages."
stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$PO" 2>&1)
echo "$PO: $stats"
count() { echo "$stats" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
untranslated=$(count untranslated)
fuzzy=$(count fuzzy)

if [ "$untranslated" -gt 0 ]; then
    echo
    echo "== $untranslated untranslated:"
    msgattrib --untranslated --no-obsolete --no-wrap "$PO" | grep -E '^(#:|msgid|msgid_plural) ' | grep -vx 'msgid ""'
fi
if [ "$fuzzy" -gt 0 ]; then
    echo
    echo "== $fuzzy fuzzy (guessed by msgmerge from a similar old string: check, then unflag):"
    msgattrib --only-fuzzy --no-obsolete --no-wrap "$PO" | grep -E '^(#:|#\||msgid|msgid_plural) ' | grep -vx 'msgid ""'
fi
if [ "$untranslated" -gt 0 ] || [ "$fuzzy" -gt 0 ]; then
    echo
    echo "left: $untranslated untranslated, $fuzzy fuzzy"
    exit 1
fi
echo "all entries translated; django.mo compiled"
