"""The transcript archive: every conversation event, copied from Redis into SQL.

- :mod:`bot.archive.config`     settings from ``KEFU_ARCHIVE_*`` / ``KEFU_STAFF_*``
- :mod:`bot.archive.db`         the engine and Alembic migrations (``migrations/``)
- :mod:`bot.archive.schema`     the tables
- :mod:`bot.archive.redaction`  masking cards, e-mails and phones before anything is written
- :mod:`bot.archive.writer`     idempotent batch writes and per-conversation aggregates
- :mod:`bot.archive.archiver`   the Redis consumer group (``XREADGROUP`` / ``XAUTOCLAIM``)
- :mod:`bot.archive.service`    archiver + retention as run by ``kefu serve`` / ``kefu archiver``
- :mod:`bot.archive.inbox`, :mod:`~bot.archive.transcript`, :mod:`~bot.archive.reports`,
  :mod:`~bot.archive.exports`   what the staff pages read
- :mod:`bot.archive.accounts`, :mod:`~bot.archive.audit`   staff users, sessions, audit log
- :mod:`bot.archive.curation`, :mod:`~bot.archive.training`   tags, notes, corrections and
  their export as Rasa NLU training data

Errors: :class:`bot.archive.db.ArchiveError` (cannot open or migrate),
:class:`~bot.archive.accounts.AccountError`, :class:`~bot.archive.curation.CurationError`,
:class:`~bot.archive.training.CorrectionError` — all :class:`bot.errors.KefuError`, with
messages safe to show to staff.
"""
