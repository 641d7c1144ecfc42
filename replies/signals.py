"""Cache invalidation only: any change to a rule, trigger or reply bumps the rule-set version."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from replies.models import ReplyRule, RuleReply, Trigger
from replies.rules.ruleset import bump_ruleset_version


@receiver(post_save, sender=ReplyRule)
@receiver(post_save, sender=Trigger)
@receiver(post_save, sender=RuleReply)
@receiver(post_delete, sender=ReplyRule)
@receiver(post_delete, sender=Trigger)
@receiver(post_delete, sender=RuleReply)
def rules_changed(**kwargs):
    if kwargs.get("raw"):  # loaddata: the version is bumped once by whoever loads
        return
    bump_ruleset_version()
