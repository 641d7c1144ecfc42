"""The custom menu: the draft operators edit (button rows), and every publication to WeChat.

There is one draft: the ``MenuButton`` rows, top-level buttons (no parent) in ``position``
order, each with its sub-buttons. Publishing sends the draft as menu/create's JSON and records a
``MenuPublication`` whatever WeChat answers, so the history shows every attempt, who made it,
the exact JSON and WeChat's errcode and errmsg; an older one can be published again.
"""

import json

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.environment import environment_account_id


class MenuButton(models.Model):
    """One button of the draft menu; WeChat's limits are checked by the editor's form."""

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        default=environment_account_id,
        related_name="+",
        verbose_name=_("official account"),
        help_text=_("The account whose menu this button belongs to."),
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent button"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sub_buttons",
        help_text=_("Empty for a button of the menu bar; else the button it opens from."),
    )
    position = models.PositiveSmallIntegerField(
        _("position"),
        default=0,
        help_text=_("Left to right in the menu bar, top to bottom in a sub-menu, e.g. 0."),
    )
    name = models.CharField(
        _("name"),
        max_length=60,
        help_text=_(
            "What followers see, e.g. 联系我们. At most 16 bytes in the menu bar (5 Chinese "
            "characters) and 60 bytes in a sub-menu."
        ),
    )
    type = models.CharField(
        _("type"),
        max_length=32,
        blank=True,
        help_text=_("What a tap does, e.g. click. Empty for a button that opens a sub-menu."),
    )
    key = models.CharField(
        _("key"),
        max_length=128,
        blank=True,
        help_text=_("Sent to wxsite with the tap, for a menu-click rule to answer, e.g. CONTACT."),
    )
    url = models.CharField(
        _("URL"),
        max_length=1024,
        blank=True,
        help_text=_(
            "The page to open, e.g. https://shop.example.com/; for a mini program, the page "
            "shown by WeChat versions that cannot open it."
        ),
    )
    appid = models.CharField(
        _("mini program AppID"),
        max_length=64,
        blank=True,
        help_text=_("A mini program linked to the account, e.g. wx286b93c14bbf93aa."),
    )
    pagepath = models.CharField(
        _("mini program page"),
        max_length=255,
        blank=True,
        help_text=_("e.g. pages/index/index"),
    )
    article_id = models.CharField(
        _("article ID"),
        max_length=128,
        blank=True,
        help_text=_("The article_id of a published article (发表记录)."),
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("custom menu")
        verbose_name_plural = _("custom menu")

    def __str__(self):
        return self.name


class MenuPublication(models.Model):
    """One attempt to publish a menu (menu/create), successful or not."""

    class Source(models.TextChoices):
        ADMIN = "admin", _("menu editor")
        REPUBLISH = "republish", _("published again from the history")
        COMMAND = "command", _("publish_menu command")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        default=environment_account_id,
        related_name="+",
        verbose_name=_("official account"),
        help_text=_("The account the menu was published to."),
    )
    published_at = models.DateTimeField(_("published at"), default=timezone.now, db_index=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty when published by a command."),
    )
    # "from" alone is the insights' start date: the context gives this one its own translation.
    source = models.CharField(
        pgettext_lazy("menu publication", "from"), max_length=16, choices=Source.choices
    )
    republished_from = models.ForeignKey(
        "self",
        verbose_name=_("published again from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField(
        _("menu JSON"),
        help_text=_('The exact JSON sent to menu/create, e.g. {"button":[…]}.'),
    )
    ok = models.BooleanField(_("published"), default=False)
    errcode = models.IntegerField(
        _("errcode"), null=True, blank=True, help_text=_("WeChat's error code, e.g. 40018.")
    )
    errmsg = models.TextField(
        _("WeChat's message"),
        blank=True,
        help_text=_("As WeChat sent it, e.g. invalid button name size."),
    )
    explanation = models.TextField(
        _("explanation"), blank=True, help_text=_("What the error means and what to do.")
    )

    class Meta:
        ordering = ["-published_at", "-id"]
        verbose_name = _("menu publication")
        verbose_name_plural = _("menu publications")
        permissions = [("publish_menu", _("Can publish the custom menu"))]

    def __str__(self):
        # In the site's time zone, like every date the admin shows (the breadcrumb uses this).
        return f"#{self.pk} {timezone.localtime(self.published_at):%Y-%m-%d %H:%M}"

    @property
    def menu(self) -> dict:
        """Return the body as a dict (an empty menu if it cannot be read)."""
        try:
            menu = json.loads(self.body)
        except ValueError:
            return {"button": []}
        return menu if isinstance(menu, dict) else {"button": []}
