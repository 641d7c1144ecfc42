"""Cache invalidation only: any change to a rule, trigger or reply bumps the rule-set version of
the account the rule answers on (the every-account version for a rule of every account), and of
the account it answered on before when a rule moves to another."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from replies.models import ReplyRule, RuleReply, Trigger
from replies.rules.ruleset import bump_ruleset_version

_PREVIOUS_ACCOUNT = "_ruleset_previous_account"


@receiver(pre_save, sender=ReplyRule)
def remember_previous_account(instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    previous = ReplyRule.objects.filter(pk=instance.pk).values_list("account_id", flat=True)
    setattr(instance, _PREVIOUS_ACCOUNT, list(previous))


@receiver(post_save, sender=ReplyRule)
@receiver(post_delete, sender=ReplyRule)
def rule_changed(instance, **kwargs):
    if kwargs.get("raw"):  # loaddata: the version is bumped once by whoever loads
        return
    accounts = {instance.account_id, *getattr(instance, _PREVIOUS_ACCOUNT, ())}
    bump_ruleset_version(account_ids=accounts)


@receiver(post_save, sender=Trigger)
@receiver(post_save, sender=RuleReply)
@receiver(post_delete, sender=Trigger)
@receiver(post_delete, sender=RuleReply)
def rule_part_changed(instance, **kwargs):
    if kwargs.get("raw"):
        return
    rule = type(instance).rule.field.get_cached_value(instance, default=None)
    if rule is not None:  # the admin's inlines and make_rule hold their rule: no query
        bump_ruleset_version(account_ids=[rule.account_id])
        return
    account = ReplyRule.objects.filter(pk=instance.rule_id).values_list("account_id", flat=True)
    # No rule row (deleted by hand in the database): count it as a change on every account.
    bump_ruleset_version(account_ids=list(account) or None)
