"""On PostgreSQL, trigram indexes for the message log's search, so that "text contains" is an
index scan at a million rows instead of reading the whole table. Nothing on SQLite."""

import logging

from django.db import migrations, transaction

logger = logging.getLogger("replies.migrations")

TRIGRAM_INDEXES = {
    "message_content_trgm": "content",
    "message_recognition_trgm": "recognition",
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # noqa: BLE001 - search still works, only slower; say so and go on
        logger.warning("pg_trgm unavailable: the message log's text search will scan the table")
        return
    for name, column in TRIGRAM_INDEXES.items():
        # UPPER(...) because that is what the admin's case-insensitive "contains" compares.
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON replies_message "
            f"USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("replies", "0001_initial")]

    operations = [
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
