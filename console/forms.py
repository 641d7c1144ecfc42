"""The menu editor's form, and the datalist of menu keys for the rules' trigger form.

The editor shows a fixed grid: MENU_MAX_BUTTONS top-level buttons, each with
MENU_MAX_SUB_BUTTONS sub-button slots; a slot left empty is no button. WeChat's rules are not
repeated here: the filled slots become a menu/create body and ``wechat_api.menu.check_menu`` (the
same function ``publish_menu`` and the fake API use) says what is wrong, each problem shown on
the slot and field it concerns, translated by its code.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from console.menus import button_body
from replies.protocol.vocabulary import MENU_BUTTON_TYPES, MENU_MAX_BUTTONS, MENU_MAX_SUB_BUTTONS
from wechat_api.menu import ACTION_FIELDS, MenuProblem, check_menu

# Labels of WeChat's button types; a type the vocabulary adds later shows under its own name.
TYPE_LABELS = {
    "click": _("click: send the key (a menu-click rule answers)"),
    "view": _("view: open a web page"),
    "miniprogram": _("miniprogram: open a mini program"),
    "scancode_push": _("scancode_push: scan a code, send the key"),
    "scancode_waitmsg": _("scancode_waitmsg: scan a code, wait for the reply"),
    "pic_sysphoto": _("pic_sysphoto: take a photo"),
    "pic_photo_or_album": _("pic_photo_or_album: take a photo or choose one"),
    "pic_weixin": _("pic_weixin: choose a photo from the WeChat album"),
    "location_select": _("location_select: send a location"),
    "article_id": _("article_id: show a published article"),
    "article_view_limited": _("article_view_limited: show a published article (no sharing)"),
}
TYPE_CHOICES = [("", _("— opens sub-buttons —"))] + [
    (kind, TYPE_LABELS.get(kind, kind)) for kind in MENU_BUTTON_TYPES
]
SUB_TYPE_CHOICES = [("", "—"), *TYPE_CHOICES[1:]]

PROBLEM_MESSAGES = {
    "not_a_menu": _("This is not a menu."),
    "no_buttons": _("A menu needs at least one button."),
    "too_many_buttons": _("A menu has at most %(limit)d buttons; this one has %(size)d."),
    "not_a_button": _("This is not a button."),
    "too_many_sub_buttons": _("A button has at most %(limit)d sub-buttons; this one has %(size)d."),
    "nested_sub_buttons": _("A sub-button cannot have sub-buttons of its own."),
    "name_required": _("Enter a name."),
    "name_too_long": _(
        "At most %(limit)d bytes; this name has %(size)d (a Chinese character is 3 bytes)."
    ),
    "type_required": _("Choose what the button does, or give it sub-buttons."),
    "type_unknown": _("WeChat has no button type “%(value)s”."),
    "type_with_sub_buttons": _(
        "A button with sub-buttons does nothing itself: leave its type empty."
    ),
    "field_required": _("A “%(value)s” button needs this."),
    "field_too_long": _("At most %(limit)d bytes; this has %(size)d."),
    "url_scheme": _("Enter a full address starting with http:// or https://."),
}


def problem_message(problem: MenuProblem) -> str:
    """Return the problem in the admin's language, without where it is."""
    return PROBLEM_MESSAGES[problem.code] % {
        "limit": problem.limit or 0,
        "size": problem.size or 0,
        "value": problem.value,
    }


def describe_problem(problem: MenuProblem) -> str:
    """Return the problem in the admin's language, with the button it concerns."""
    if problem.button is None:
        return problem_message(problem)
    if problem.sub is None:
        where = _("Button %(number)d") % {"number": problem.button + 1}
    else:
        where = _("Button %(number)d.%(sub)d") % {
            "number": problem.button + 1,
            "sub": problem.sub + 1,
        }
    return _("%(where)s: %(problem)s") % {"where": where, "problem": problem_message(problem)}


class ButtonForm(forms.Form):
    """One slot of the grid: a top-level button or a sub-button; all empty means none."""

    top_level = True  # the template labels the row; a sub-button slot says False

    # No max_length on name, key and URL: check_menu counts their bytes (WeChat's measure), and
    # a value within it always fits the column.
    name = forms.CharField(label=_("name"), required=False)
    type = forms.ChoiceField(label=_("type"), required=False, choices=TYPE_CHOICES)
    key = forms.CharField(label=_("key"), required=False)
    url = forms.CharField(label=_("URL"), required=False)
    appid = forms.CharField(label=_("mini program AppID"), required=False, max_length=64)
    pagepath = forms.CharField(label=_("mini program page"), required=False, max_length=255)
    article_id = forms.CharField(label=_("article ID"), required=False, max_length=128)

    def is_blank(self) -> bool:
        return not any(self.cleaned_data.get(name) for name in ("name", "type", *ACTION_FIELDS))

    def button(self) -> dict[str, Any]:
        return button_body(self.cleaned_data) if self.cleaned_data.get("type") else {
            "name": self.cleaned_data.get("name", "")
        }  # fmt: skip


class MenuEditorForm:
    """The whole menu: ``columns`` holds, per top-level button, its form then its sub-forms."""

    def __init__(self, data=None, *, body: dict[str, Any] | None = None, disabled=False):
        buttons = (body or {}).get("button") or []
        self.columns: list[list[ButtonForm]] = []
        for number in range(MENU_MAX_BUTTONS):
            button = buttons[number] if number < len(buttons) else {}
            subs = button.get("sub_button") or []
            column = [self._form(data, f"b{number}", button, disabled=disabled)]
            for sub_number in range(MENU_MAX_SUB_BUTTONS):
                sub = subs[sub_number] if sub_number < len(subs) else {}
                column.append(
                    self._form(data, f"b{number}s{sub_number}", sub,
                               disabled=disabled, top_level=False)
                )  # fmt: skip
            self.columns.append(column)
        self.non_field_errors: list[str] = []
        self._body: dict[str, Any] | None = None

    @staticmethod
    def _form(data, prefix, button, *, disabled, top_level=True) -> ButtonForm:
        initial = {name: button.get(name, "") for name in ("name", "type", *ACTION_FIELDS)}
        form = ButtonForm(data, prefix=prefix, initial=initial)
        form.top_level = top_level
        if not top_level:
            # A sub-button cannot open sub-buttons: an empty type there is just "not chosen".
            form.fields["type"].choices = SUB_TYPE_CHOICES
        if disabled:
            for field in form.fields.values():
                field.disabled = True
        return form

    def is_valid(self, *, allow_empty: bool = False) -> bool:
        """Validate every slot, then the menu with check_menu; errors go to slots and fields."""
        if not all(form.is_valid() for column in self.columns for form in column):
            return False
        body, places = self._assemble()
        problems = check_menu(body)
        if allow_empty and not body["button"]:
            problems = []
        for problem in problems:
            form = None
            if problem.button is not None:
                column = places[problem.button]
                form = column[0] if problem.sub is None else column[1][problem.sub]
            message = ValidationError(problem_message(problem), code=problem.code)
            if form is None:
                self.non_field_errors.append(problem_message(problem))
            elif problem.field in form.fields:
                form.add_error(problem.field, message)
            else:
                form.add_error(None, message)
        self._body = body
        return not problems

    def _assemble(self) -> tuple[dict[str, Any], list]:
        """Return the body of the filled slots, and for each of its buttons the slot forms."""
        buttons, places = [], []
        for column in self.columns:
            top, subs = column[0], [form for form in column[1:] if not form.is_blank()]
            if top.is_blank() and not subs:
                continue
            if subs:
                button = {"name": top.cleaned_data["name"], "sub_button": []}
                if top.cleaned_data["type"]:
                    button["type"] = top.cleaned_data["type"]  # check_menu refuses it
                button["sub_button"] = [form.button() for form in subs]
            else:
                button = top.button()
            buttons.append(button)
            places.append((top, subs))
        return {"button": buttons}, places

    @property
    def body(self) -> dict[str, Any]:
        """Return the menu/create body of a valid form."""
        if self._body is None:
            raise ValueError("validate the form first")
        return self._body


class MenuKeyInput(forms.TextInput):
    """A text input that suggests the draft menu's keys (an HTML datalist, no JavaScript)."""

    def __init__(self, keys: dict[str, str], attrs=None):
        super().__init__(attrs)
        self.keys = keys

    def render(self, name, value, attrs=None, renderer=None):
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or 'id_' + name}-menu-keys"
        attrs["list"] = list_id
        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}" label="{}"></option>', self.keys.items())
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)
