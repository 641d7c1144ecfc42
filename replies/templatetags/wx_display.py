"""Template filters for follower text: `{% load wx_display %}` then `{{ text|reveal_invisible }}`.

See replies.admin.display: invisible and direction-changing characters are shown as markers
(⟨U+202E⟩) instead of being obeyed by the browser.
"""

from django import template

from replies.admin.display import reveal_invisible as _reveal_invisible

register = template.Library()


@register.filter(is_safe=True)
def reveal_invisible(text):
    """Return the text escaped, each invisible or bidi character shown as a marker."""
    return _reveal_invisible(text)
