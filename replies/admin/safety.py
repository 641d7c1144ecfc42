"""What an admin list page accepts in its query string: its own filters' parameters, no others.

Django's admin turns any `field__lookup=value` of the query string into a filter, so a staff user
who may only read the message log can still add `content__regex=(a+)+$` or
`raw_xml__contains=…` to its URL (or to its CSV export) and keep the database busy for as long
as they like. `OfferedLookupsOnly` narrows `lookup_allowed` to the parameters the page's own
list_filter (and date hierarchy) generate, e.g. `msg_type__exact`, `answered`; anything else is
Django's DisallowedModelAdminLookup, a 400 "Filtering by … not allowed". It also turns the
other parameters Django would take to the database as they come into a 400 or Django's own
"wacky parameters" redirect instead of a 500: a NUL anywhere (PostgreSQL refuses it), a search
of thousands of words, dates that overflow, selected ids that are not ids.

Every ModelAdmin of the project uses the mixin; the admins other apps register (auth, axes,
django-otp) get it by re-registration at the end of this module, and a test checks that every
registered admin has it.
"""

from django.contrib import admin
from django.contrib.admin.filters import FieldListFilter, ListFilter
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import IGNORED_PARAMS, SEARCH_VAR
from django.contrib.admin.widgets import url_params_from_lookup_dict
from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.utils.text import smart_split

# The search box: as long as the longest text WeChat delivers (2048 bytes), so a follower's
# whole text can be searched. Django's default search ANDs one OR-of-fields per word, so
# thousands of words make a query SQLite refuses ("Expression tree is too large").
MAX_SEARCH_CHARS = 2048
MAX_SEARCH_WORDS = 20
# The date hierarchy's years: a local day at year 1 or 9999 overflows when turned into UTC.
DATE_HIERARCHY_RANGES = {"year": (2, 9998), "month": (1, 12), "day": (1, 31)}


class UnstorableParameter(SuspiciousOperation):
    """A query-string parameter holds a character the database cannot take (NUL): a 400."""


def refuse_unstorable(params) -> None:
    """Raise UnstorableParameter when a key or value of the QueryDict `params` holds a NUL.

    PostgreSQL refuses NUL in text ("A string literal cannot contain NUL"): without this check
    `?q=%00` would reach the database and come back as a 500.
    """
    for key, values in params.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            raise UnstorableParameter("A query parameter contains a NUL character.")


def offered_parameters(model_admin, request) -> frozenset[str]:
    """Return the query-string parameters the changelist's filters and date hierarchy read."""
    names = set()
    for item in model_admin.get_list_filter(request):
        if isinstance(item, type) and issubclass(item, ListFilter):
            # A SimpleListFilter (or another custom ListFilter class): built as Django builds it,
            # with no parameters, so it reads nothing; only its parameter names are wanted.
            spec = item(request, {}, model_admin.model, model_admin)
        else:
            field_path, filter_class = (
                item if isinstance(item, (list, tuple)) else (item, FieldListFilter.create)
            )
            if isinstance(field_path, str):
                field = get_fields_from_path(model_admin.model, field_path)[-1]
            else:
                field, field_path = field_path, None
            spec = filter_class(
                field, request, {}, model_admin.model, model_admin, field_path=field_path
            )
        names.update(spec.expected_parameters())
    if model_admin.date_hierarchy:
        names.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day"))
    return frozenset(names)


class OfferedLookupsOnly:
    """A ModelAdmin mixin: the changelist (and what reuses it, like an export) filters only by
    the parameters its own filters offer; search (`q`), sorting and paging are not lookups and
    stay as they are."""

    def offered_lookups(self, request) -> frozenset[str]:
        cache = request.__dict__.setdefault("_offered_lookups", {})
        key = id(self)
        if key not in cache:
            cache[key] = offered_parameters(self, request)
        return cache[key]

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in IGNORED_PARAMS:
            return True
        if not self._limit_choices_lookup(lookup, value) and (
            request is None or lookup not in self.offered_lookups(request)
        ):
            return False
        return super().lookup_allowed(lookup, value, request)

    def _limit_choices_lookup(self, lookup, value) -> bool:
        """Return whether (lookup, value) is what a raw-id popup of a ForeignKey with
        limit_choices_to sends (Django's own exception to its lookup check)."""
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in url_params_from_lookup_dict(fk_lookup).items():
                return True
        return False

    def get_changelist_instance(self, request):
        refuse_unstorable(request.GET)
        if len(request.GET.get(SEARCH_VAR, "")) > MAX_SEARCH_CHARS:
            raise BadRequest(f"Search for at most {MAX_SEARCH_CHARS} characters.")
        self._check_date_hierarchy(request.GET)
        try:
            return super().get_changelist_instance(request)
        except OverflowError as error:
            # A date or number too far out for Python or the database (year 1 in UTC, an
            # integer past 64 bits): wacky parameters, as Django calls them.
            raise IncorrectLookupParameters(error) from error

    def _check_date_hierarchy(self, params) -> None:
        if not self.date_hierarchy:
            return
        for part, (low, high) in DATE_HIERARCHY_RANGES.items():
            for value in params.getlist(f"{self.date_hierarchy}__{part}"):
                try:
                    number = int(value)
                except ValueError as error:
                    raise IncorrectLookupParameters(error) from error
                if not low <= number <= high:
                    raise IncorrectLookupParameters(f"{part} {number} is out of range")

    def get_search_results(self, request, queryset, search_term):
        if sum(1 for _word in smart_split(search_term)) > MAX_SEARCH_WORDS:
            raise BadRequest(f"Search for at most {MAX_SEARCH_WORDS} words.")
        return super().get_search_results(request, queryset, search_term)

    def response_action(self, request, queryset):
        """Refuse selected ids that are not ids of this model (text, NUL, past 64 bits) with a
        400: Django would filter on them and fail with a 500."""
        pk = self.model._meta.pk
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            try:
                pk.run_validators(pk.to_python(value))
            except ValidationError as error:
                raise BadRequest("A selected id is not an id.") from error
        return super().response_action(request, queryset)

    def get_changelist_or_400(self, request):
        """Return the changelist for a view other than the list page (an export): Django's
        list page redirects on IncorrectLookupParameters (`?e=1`); anything else answers 400."""
        try:
            return self.get_changelist_instance(request)
        except IncorrectLookupParameters as error:
            raise BadRequest(str(error)) from error


def guard_registered_admins(site: admin.AdminSite) -> None:
    """Re-register every admin on `site` that lacks OfferedLookupsOnly with the mixin added.

    For the admins other apps register (auth's users and groups, axes, django-otp): they are
    registered before the project's apps are imported (INSTALLED_APPS order), so this runs when
    replies.admin is imported. The project's own admins use the mixin directly.
    """
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, OfferedLookupsOnly):
            continue
        cls = type(model_admin)
        guarded = type(cls.__name__, (OfferedLookupsOnly, cls), {"__module__": cls.__module__})
        site.unregister(model)
        site.register(model, guarded)


guard_registered_admins(admin.site)
