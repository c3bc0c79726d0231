"""The settings generation: one number in the database that every committed change of the settings bumps.

Values derived from the settings are cached in each process under the current generation
(selectors.py), so a process reads the number on each request that needs the settings (once per
request). The database is the one source of truth in every configuration: SQLite of `make run`,
the processes of `make serve`, a management command, and instances sharing PostgreSQL. The bump
runs after the change commits (selectors.settings_cache_invalidate), so no process can read the
new number before it can read the new rows.
"""

import time

from django.db import connection
from django.db.models import F

from .models import SettingsGeneration

ROW = 1
# A request's one query for the settings, in plain SQL: building it with the ORM costs more than running it
# (docs/benchmark.md).
READ = "SELECT value FROM settings_admin_settingsgeneration WHERE id = %s"


def generation_current():
    with connection.cursor() as cursor:
        cursor.execute(READ, [ROW])
        row = cursor.fetchone()
    return row[0] if row is not None else _generation_create()


def generation_bump():
    """One atomic step in the database, safe against bumps from other processes at the same time."""
    if not SettingsGeneration.objects.filter(pk=ROW).update(value=F("value") + 1):
        _generation_create()


def _generation_create():
    # From the clock, so a database that lost the row (flushed) never brings back an old generation.
    row, _ = SettingsGeneration.objects.get_or_create(pk=ROW, defaults={"value": time.time_ns()})
    return row.value
