"""Alembic environment for the Kefu archive.

Run through :meth:`bot.archive.db.ArchiveDatabase.upgrade`, which passes an open connection
in ``config.attributes["connection"]``. For the ``alembic`` command line, set
``sqlalchemy.url`` (or ``KEFU_ARCHIVE_URL``) and point ``script_location`` here.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from bot.archive.db import normalise_url
from bot.archive.schema import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("KEFU_ARCHIVE_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url or KEFU_ARCHIVE_URL to the archive database")
    engine = create_engine(normalise_url(url))
    with engine.connect() as own_connection:
        _run(own_connection)
        own_connection.commit()
