"""Admin for the custom menu: the editor page, the publication history, keys for the rule form.

The custom menu's admin entry opens the editor (one page: the grid of buttons, a phone-style
preview, warnings about keys, the latest publications) rather than a list of button rows;
import and re-publish are small POST views next to it. Permissions: ``view_menubutton`` to look,
``change_menubutton`` to edit and import, ``publish_menu`` to publish (see console.groups).

Every official account has its own menu: the editor and the import page show the account named
by ``?account=<id>`` (the user's first account without it; a selector when they see several),
and an account the user may not see is a 404, like an id that never existed. The history lists
the publications of the user's accounts only (replies.admin.scoping), so another account's
publication cannot be seen, published again or copied into a draft through any URL.

Menu keys in the rules' trigger form: replies must not import this app (the endpoint and the
rules work without it), so this app extends replies' admin instead — the registered ReplyRule
admin is replaced by a subclass whose trigger inline gives the value field a datalist of the
draft's keys. It is a declarative subclass (no patching of replies' classes) and works without
JavaScript; without this app the trigger form is simply a text field again.
"""

from __future__ import annotations

import json
import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

import replies.admin  # noqa: F401  (registers ReplyRule's admin, replaced below)
from accounts.models import Account
from console.forms import MenuEditorForm, MenuKeyInput, describe_problem
from console.menus import (
    MenuRefused,
    draft_body,
    draft_click_keys,
    fetch_live_menu,
    key_warnings,
    publish_menu,
    save_draft,
)
from console.models import MenuButton, MenuPublication
from replies.admin.readonly import ReadOnlyLogAdmin
from replies.admin.rules import ReplyRuleAdmin, TriggerInline
from replies.admin.safety import OfferedLookupsOnly
from replies.admin.scoping import ACCOUNT_PARAMETER, AccountScopedAdmin, account_scope
from replies.models import ReplyRule
from replies.rules.index import CLICK
from wechat_api.errors import WeChatAPIError
from wechat_api.menu import ImportNote

logger = logging.getLogger("console.menu")

PUBLISH_PERMISSION = "console.publish_menu"
MENU_KEY_PARAMETER = "menu_key"  # ?menu_key=KEY on the rule add form: start a rule for KEY
HISTORY_ON_EDITOR = 10


def _can_publish(request) -> bool:
    return request.user.has_perm(PUBLISH_PERMISSION)


def chosen_account(request) -> Account:
    """Return the account ``?account=<id>`` names, or the user's first account without it.

    Raise Http404 for an id that is not one of the user's accounts (whether it exists or not)
    and when the user sees no account at all.
    """
    scope = account_scope(request)
    value = request.GET.get(ACCOUNT_PARAMETER)
    if value is None:
        if not scope.accounts:
            raise Http404(gettext("You see no official account: a superuser can add you to one."))
        account_id = scope.accounts[0][0]
    else:
        account_id = scope.named(value)
        if account_id is None:
            raise Http404(gettext("No such official account."))
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise Http404(gettext("No such official account."))
    return account


def with_account(request, url: str, account_id: int) -> str:
    """Return ``url`` (the editor, the import page, the history) for the account ``account_id``;
    as it is for a user who sees one account (their pages need not say which)."""
    if not account_scope(request).several:
        return url
    return f"{url}?{ACCOUNT_PARAMETER}={account_id}"


def editor_url(request, account_id: int) -> str:
    return with_account(request, reverse("admin:console_menubutton_changelist"), account_id)


def report_publication(request, publication: MenuPublication) -> None:
    """Tell the operator what WeChat answered, with the explanation and WeChat's own errmsg."""
    if publication.ok:
        messages.success(
            request,
            _(
                "The menu is published. Followers see it the next time they open the chat "
                "(WeChat refreshes it within about 5 minutes)."
            ),
        )
    elif publication.errcode is not None:
        messages.error(
            request,
            _("WeChat did not publish the menu: %(explanation)s (WeChat said: %(errmsg)s)")
            % {"explanation": publication.explanation, "errmsg": publication.errmsg},
        )
    else:
        # No errcode: WeChat said nothing (not configured, unreachable, a timeout, a proxy's
        # page). The details are the client's own words, and after a timeout WeChat may
        # have taken the menu all the same.
        messages.error(
            request,
            _(
                "The menu was not published, or WeChat did not confirm it: %(explanation)s "
                "(%(details)s)"
            )
            % {"explanation": publication.explanation, "details": publication.errmsg},
        )


def report_refusal(request, refusal: MenuRefused) -> None:
    for problem in refusal.problems:
        messages.error(request, describe_problem(problem))


def note_message(note: ImportNote) -> str:
    if note.code == "console_type":
        return gettext(
            "“%(name)s” gave a %(kind)s reply set in the console: imported as a click button "
            "with key %(key)s. Add a menu-click rule for %(key)s to answer it."
        ) % {"name": note.name, "kind": note.kind, "key": note.key}
    return gettext("“%(name)s” has a type wxsite does not know (%(kind)s) and was left out.") % {
        "name": note.name,
        "kind": note.kind,
    }


@admin.register(MenuButton)
class MenuButtonAdmin(AccountScopedAdmin, OfferedLookupsOnly, admin.ModelAdmin):
    """The custom menu's entry: the editor page instead of a list of rows."""

    def has_add_permission(self, request):
        return False  # buttons are edited in the grid

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.editor_view), name="console_menubutton_changelist"),
            path("import/", view(self.import_view), name="console_menubutton_import"),
        ]

    def _context(self, request, account: Account, **extra):
        scope = account_scope(request)
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "can_change": self.has_change_permission(request),
            "can_publish": _can_publish(request),
            "account": account,
            # The selector, only for a user who sees several accounts.
            "account_choices": scope.accounts if scope.several else (),
            "account_parameter": ACCOUNT_PARAMETER,
            **extra,
        }

    def editor_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        account = chosen_account(request)
        can_change = self.has_change_permission(request)
        if request.method == "POST":
            publish = "_publish" in request.POST
            if not can_change or (publish and not _can_publish(request)):
                raise PermissionDenied
            form = MenuEditorForm(request.POST)
            if form.is_valid(allow_empty=not publish):
                save_draft(form.body, account=account)
                if publish:
                    publication = publish_menu(form.body, account=account, user=request.user)
                    report_publication(request, publication)
                else:
                    messages.success(
                        request,
                        _("The draft is saved. Followers see it once it is published."),
                    )
                return redirect(editor_url(request, account.pk))
            messages.error(request, _("Please correct the errors below: nothing was saved."))
        else:
            form = MenuEditorForm(body=draft_body(account), disabled=not can_change)
        body = draft_body(account)
        history = MenuPublication.objects.filter(account=account).select_related("published_by")
        context = self._context(
            request,
            account,
            title=_("Custom menu"),
            form=form,
            preview=body,
            warnings=key_warnings(body, account=account),
            history=history[:HISTORY_ON_EDITOR],
        )
        return TemplateResponse(request, "admin/console/menu_editor.html", context)

    def import_view(self, request):
        """GET: show the live menu next to the draft; POST: put the live menu in the draft."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        account = chosen_account(request)
        try:
            live = fetch_live_menu(account)
        except WeChatAPIError as error:
            logger.warning("live menu not imported: %s", error)
            if error.errcode is not None:
                text = _("Could not read the live menu: %(explanation)s (WeChat said: %(errmsg)s)")
            else:  # WeChat said nothing: the details are the client's own words
                text = _("Could not read the live menu: %(explanation)s (%(errmsg)s)")
            messages.error(
                request, text % {"explanation": error.explanation, "errmsg": error.errmsg}
            )
            return redirect(editor_url(request, account.pk))
        if not live.body["button"]:
            messages.warning(request, _("Followers see no menu now: there is nothing to import."))
            return redirect(editor_url(request, account.pk))
        notes = [note_message(note) for note in live.notes]
        if request.method == "POST":
            save_draft(live.body, account=account)
            messages.success(request, _("The live menu is now the draft."))
            for note in notes:
                messages.warning(request, note)
            return redirect(editor_url(request, account.pk))
        context = self._context(
            request,
            account,
            title=_("Import the live menu"),
            crumb_parent=True,
            preview=live.body,
            live_json=json.dumps(live.body, ensure_ascii=False, indent=2),
            notes=notes,
            draft_buttons=MenuButton.objects.filter(account=account).count(),
        )
        return TemplateResponse(request, "admin/console/menu_import.html", context)


@admin.register(MenuPublication)
class MenuPublicationAdmin(
    AccountScopedAdmin, ReadOnlyLogAdmin, OfferedLookupsOnly, admin.ModelAdmin
):
    """Every publication of the user's accounts, read-only, with re-publish and copy-to-draft
    on each (into the publication's own account)."""

    list_display = ["published_at", "published_by", "source", "ok", "result", "buttons"]
    list_filter = ["ok", "source"]
    list_select_related = ["published_by"]
    fields = [
        "account",
        "published_at",
        "published_by",
        "source",
        "republished_from",
        "ok",
        "errcode",
        "errmsg",
        "explanation",
        "pretty_body",
    ]
    extra_readonly = ("pretty_body",)  # the history is the record of what followers were shown
    change_form_template = "admin/console/menupublication/change_form.html"

    @admin.display(description=_("result"))
    def result(self, obj):
        if obj.ok:
            return gettext("published")
        return f"{obj.errcode if obj.errcode is not None else '—'} {obj.explanation}"

    @admin.display(description=_("buttons"))
    def buttons(self, obj):
        return " | ".join(button.get("name", "") for button in obj.menu.get("button", []))

    @admin.display(description=_("menu JSON"))
    def pretty_body(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.menu, ensure_ascii=False, indent=2))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/republish/",
                view(self.republish_view),
                name="console_menupublication_republish",
            ),
            path(
                "<int:pk>/restore/",
                view(self.restore_view),
                name="console_menupublication_restore",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        publication = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "preview": publication.menu if publication else None,
            "can_publish": _can_publish(request),
            "can_change_draft": request.user.has_perm("console.change_menubutton"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def republish_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not _can_publish(request):
            raise PermissionDenied
        older = get_object_or_404(self.get_queryset(request), pk=pk)
        try:
            publication = publish_menu(
                older.menu,
                account=older.account,
                user=request.user,
                source=MenuPublication.Source.REPUBLISH,
                republished_from=older,
            )
        except MenuRefused as refusal:
            report_refusal(request, refusal)
        else:
            report_publication(request, publication)
        return redirect(_back(request, account_id=older.account_id))

    def restore_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("console.change_menubutton"):
            raise PermissionDenied
        older = get_object_or_404(self.get_queryset(request), pk=pk)
        save_draft(older.menu, account=older.account)
        messages.success(
            request,
            _("The menu of publication #%(number)s is now the draft.") % {"number": older.pk},
        )
        return redirect(editor_url(request, older.account_id))


def _back(request, *, account_id: int) -> str:
    # Back to the page the button was on (the editor or the history), for the publication's
    # account, never off the site.
    editor = reverse("admin:console_menubutton_changelist")
    history = reverse("admin:console_menupublication_changelist")
    target = request.POST.get("next", "").partition("?")[0]
    return with_account(request, history if target == history else editor, account_id)


# --- menu keys in the reply rules' trigger form ---------------------------------------------


def suggested_accounts(request, rule=None) -> list[Account]:
    """Return the accounts whose draft keys the rule form suggests: the rule's own account, or
    (a new rule, an every-account rule) every account the user sees; with ``?account=<id>`` on
    the add form (the editor's link), that account only, when the user sees it."""
    scope = account_scope(request)
    if rule is not None and rule.account_id is not None and scope.includes(rule.account_id):
        return [rule.account]
    account_id = scope.named(request.GET.get(ACCOUNT_PARAMETER))
    if account_id is not None:
        return list(Account.objects.filter(pk=account_id))
    return list(scope.account_choices())


class MenuKeyTriggerInline(TriggerInline):
    """Replies' trigger inline, with the keys of the drafts of the rule's account (or of the
    user's accounts) suggested in the value field."""

    def get_formset(self, request, obj=None, **kwargs):
        keys = draft_click_keys(suggested_accounts(request, obj))
        widgets = {**kwargs.pop("widgets", {}), "value": MenuKeyInput(keys)}
        return super().get_formset(request, obj, widgets=widgets, **kwargs)


class MenuAwareReplyRuleAdmin(ReplyRuleAdmin):
    """Replies' rule admin with menu keys offered, and a new rule started from a menu key.

    The editor's warning "add a menu-click rule" links to the add form with
    ``?menu_key=KEY&account=<id>``: the form opens with a menu-click trigger for KEY, the
    button's name as the rule's name, and the menu's account. Only a key of a draft the user
    sees is taken; any other value is ignored (an empty form, as without it).
    """

    inlines = [
        MenuKeyTriggerInline if inline is TriggerInline else inline
        for inline in ReplyRuleAdmin.inlines
    ]

    def _offered_menu_key(self, request) -> tuple[str, str] | None:
        key = request.GET.get(MENU_KEY_PARAMETER, "")
        name = draft_click_keys(suggested_accounts(request)).get(key) if key else None
        return (key, name) if name is not None else None

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.pop(MENU_KEY_PARAMETER, None)
        offered = self._offered_menu_key(request)
        if offered:
            initial.setdefault("name", offered[1])
            accounts = suggested_accounts(request)
            if len(accounts) == 1:
                initial[ACCOUNT_PARAMETER] = accounts[0].pk
        return initial

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        adding = obj is None or obj._state.adding  # the add view passes an unsaved rule
        if request.method == "GET" and adding and isinstance(inline, MenuKeyTriggerInline):
            offered = self._offered_menu_key(request)
            if offered:
                kwargs["initial"] = [{"kind": CLICK, "value": offered[0]}]
        return kwargs


admin.site.unregister(ReplyRule)
admin.site.register(ReplyRule, MenuAwareReplyRuleAdmin)
