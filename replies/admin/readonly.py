"""The admin of a log: staff read it, nobody writes it through the admin.

Messages, security events and spool conflicts are records of what happened; retention is
`manage.py purge_messages`, never a click. One mixin says so for all three.
"""


class ReadOnlyLogAdmin:
    """Every field read-only, plus `extra_readonly` (display methods); no add, change or delete."""

    extra_readonly: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + list(self.extra_readonly)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
