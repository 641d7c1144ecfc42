"""Show follower text in the admin as it is, invisible and direction-changing characters included.

A follower's text may hold characters a browser obeys instead of showing: U+202E turns the rest
of the line right to left ("price \u202egnp.exe" reads "price exe.png"), zero-width characters
hide inside words, control characters vanish. `reveal_invisible` HTML-escapes the text and shows
each such character as a marker, ⟨U+202E⟩, in a <span class="wx-invisible"> (styled in
replies/static/replies/admin.css, titled with the character's name); `mark_invisible` gives the
same markers in plain text, for messages and names. Every page that shows follower text goes
through one of them (the template filter is `reveal_invisible`, in replies.templatetags.wx_display);
the stored text is never changed.

Revealed: every format character (Unicode category Cf: bidi embeddings, overrides, isolates and
marks, zero-width space and joiners, BOM, word joiner, soft hyphen, tag characters), the line and
paragraph separators (Zl, Zp), and the C0 and C1 controls but tab, line feed and carriage return.
One exception keeps emoji whole: a zero-width joiner between two emoji ("👨‍👩‍👧" is one picture).
"""

import unicodedata

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

REVEALED_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp"})
KEPT_CONTROLS = frozenset("\t\n\r")
ZERO_WIDTH_JOINER = "\u200d"
# What may stand on either side of a joiner inside an emoji sequence: symbols (So), skin-tone
# modifiers (Sk) and the emoji presentation selector U+FE0F (Mn).
EMOJI_CATEGORIES = frozenset({"So", "Sk"})
EMOJI_SELECTOR = "\ufe0f"


def _is_emoji_part(char: str) -> bool:
    return char == EMOJI_SELECTOR or unicodedata.category(char) in EMOJI_CATEGORIES


def _is_revealed(text: str, index: int) -> bool:
    char = text[index]
    if char in KEPT_CONTROLS or unicodedata.category(char) not in REVEALED_CATEGORIES:
        return False
    if char == ZERO_WIDTH_JOINER and 0 < index < len(text) - 1:
        return not (_is_emoji_part(text[index - 1]) and _is_emoji_part(text[index + 1]))
    return True


def marker(char: str) -> str:
    """Return the visible stand-in for `char`, e.g. "⟨U+202E⟩"."""
    return f"⟨U+{ord(char):04X}⟩"


def _pieces(text: str):
    """Yield (is_revealed, piece): runs of ordinary text and single revealed characters."""
    start = 0
    for index in range(len(text)):
        if _is_revealed(text, index):
            if start < index:
                yield False, text[start:index]
            yield True, text[index]
            start = index + 1
    if start < len(text):
        yield False, text[start:]


def mark_invisible(text) -> str:
    """Return `text` (plain, not HTML) with each invisible or bidi character as a marker."""
    text = "" if text is None else str(text)
    return "".join(marker(piece) if revealed else piece for revealed, piece in _pieces(text))


def reveal_invisible(text, *, linebreaks: bool = False) -> SafeString:
    """Return `text` as safe HTML: escaped, each invisible or bidi character shown as a marker
    in <span class="wx-invisible" title="RIGHT-TO-LEFT OVERRIDE">; with `linebreaks`, line
    breaks become <br> (for text shown outside a pre-wrapped block)."""
    text = "" if text is None else str(text)
    html = []
    for revealed, piece in _pieces(text):
        if revealed:
            name = unicodedata.name(piece, "")
            title = f' title="{escape(name)}"' if name else ""
            html.append(f'<span class="wx-invisible"{title}>{marker(piece)}</span>')
        else:
            piece = escape(piece)
            if linebreaks:
                piece = piece.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
            html.append(piece)
    return mark_safe("".join(html))  # noqa: S308 - every piece is escaped or our own markup


def revealed_field(model, name: str, *, linebreaks: bool = False):
    """Return an admin display of `model`'s text field `name` with invisible characters revealed.

    For the read-only pages that show what a follower or an attacker sent (a message's text, a
    refused request's user agent): a U+202E must show as a marker, not turn the page around.
    """
    from django.contrib import admin

    field = model._meta.get_field(name)

    @admin.display(description=field.verbose_name)
    def shown(model_admin, obj):
        value = getattr(obj, name)
        if not value:
            return model_admin.get_empty_value_display()
        return reveal_invisible(value, linebreaks=linebreaks)

    shown.__name__ = f"{name}_shown"
    return shown


def pretty_xml(xml: str):
    """Return stored XML indented in a <pre>, invisible characters revealed (it came from WeChat,
    or from whoever forged it); "—" when there is none. A class, not a style attribute: the
    admin's CSP refuses inline styles."""
    from django.utils.html import format_html

    from replies.protocol import pretty_print_xml

    if not xml:
        return "—"
    return format_html('<pre class="wx-pre-wrap">{}</pre>', reveal_invisible(pretty_print_xml(xml)))
