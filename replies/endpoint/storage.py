"""Store one Message row: the endpoint's INSERT, shared by the request path and spool replay.

One statement, prepared once per process (the ORM's compiler is not run per message), with the
values converted by each field exactly as `save()` would. Replaying the spool goes through the
same function, so a message is stored the same way whether it arrived during an outage or not.
"""

from datetime import datetime
from functools import lru_cache, partial

from django.db import connection, models, transaction

from replies.models import Message
from replies.outbound.outbox import store_followups


@lru_cache(maxsize=4)
def _insert_statement(vendor: str) -> tuple[str, tuple]:
    """Return the INSERT of a Message row (RETURNING its id) and the fields it takes, in order.

    Built once per process and database: the same SQL text each time is what lets psycopg
    prepare it on the server after a few uses, and what spares the ORM's compiler per message.
    """
    fields = tuple(field for field in Message._meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    # Only names from the model and quote_name: no input reaches the text.
    sql = "INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}".format(  # noqa: S608
        table=quote(Message._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        values=", ".join(["%s"] * len(fields)),
        pk=quote(Message._meta.pk.column),
    )
    return sql, fields


@lru_cache(maxsize=4)
def _converters(vendor: str) -> tuple:
    """Return (attribute, conversion) per INSERT column.

    Text needs none (it is already str). Numbers, foreign keys and aware datetimes, which is all
    the endpoint builds, take the one step get_db_prep_save would end with (the backend's own
    adaptation) instead of the whole chain of field methods: that chain was a sixth of the
    endpoint's CPU per message. Any other value (a string for a number, a naive datetime) still
    goes through the field's get_db_prep_save, so the stored value is always save()'s.
    """
    _sql, fields = _insert_statement(vendor)
    converters = []
    for field in fields:
        internal = field.get_internal_type()
        if type(field) in (models.CharField, models.TextField):
            convert = _as_is
        elif internal in _INTEGERS or isinstance(field, models.ForeignKey):
            convert = partial(_number, field, (int,))
        elif internal == "FloatField":
            convert = partial(_number, field, (int, float))
        elif internal == "DateTimeField":
            convert = partial(_aware_datetime, field)
        else:
            convert = partial(_prepare, field)
        converters.append((field.attname, convert))
    return tuple(converters)


_INTEGERS = frozenset({"IntegerField", "BigIntegerField", "BigAutoField"})


def _as_is(value):
    return value


def _number(field, types: tuple[type, ...], value):
    if value is None or type(value) in types:
        return value
    return _prepare(field, value)


def _aware_datetime(field, value):
    if type(value) is datetime and value.utcoffset() is not None:
        return connection.ops.adapt_datetimefield_value(value)
    return _prepare(field, value)


def _prepare(field, value):
    return field.get_db_prep_save(value, connection)


def insert_message(row: Message) -> None:
    """INSERT the row in one statement and set its id.

    In autocommit (every request, as the endpoint runs) that is one round trip: wrapping it in
    atomic() would add BEGIN and COMMIT. Inside a caller's transaction (tests, scripts) a
    savepoint keeps that transaction usable when the INSERT hits the unique dedup key. The
    values go through each field's own conversion, as the ORM's save() would.
    """
    sql, _fields = _insert_statement(connection.vendor)
    params = [convert(getattr(row, name)) for name, convert in _converters(connection.vendor)]
    if connection.in_atomic_block:
        with transaction.atomic():
            row.pk = _execute_insert(sql, params)
    else:
        row.pk = _execute_insert(sql, params)
    row._state.adding = False


def store_message(row: Message, followups: list[dict] = ()) -> None:
    """INSERT the message; with "reply all" follow-ups, also their outbox rows, in the same
    transaction (both committed or neither). The endpoint and spool replay both store so."""
    if not followups:
        insert_message(row)
        return
    with transaction.atomic():
        insert_message(row)
        store_followups(row, followups)


def _execute_insert(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]
