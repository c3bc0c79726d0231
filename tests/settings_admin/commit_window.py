"""Two threads of one process on one SQLite file, run by test_commit_window.py (as tests.settings_admin.commit_window).

A writer thread changes the settings and waits inside its transaction; in that window the main
thread serves a request that reads them; then the writer commits and the main thread serves the
next request. Prints what each request saw, as one JSON object.

(In a thread of the test process this cannot be shown on SQLite: its in-memory test database
locks a table that another connection has written, so the request in the window would fail.)
"""

import json
import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from settings_admin.models import KeyScope, Tenant, TenantAPIKey  # noqa: E402
from settings_admin.selectors import speech_settings_for_change  # noqa: E402
from settings_admin.services import speech_settings_update  # noqa: E402

tenant = Tenant.objects.get(slug="default")
api_key, raw_key = TenantAPIKey.objects.create_key(name="window", tenant=tenant, scope=KeyScope.ADMIN)
client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Api-Key {raw_key}")


def request():
    """The tenant's voice as a request sees it, or the error code of its refusal."""
    response = client.get("/api/v1/settings/speech")
    return response.json()["voice"] if response.status_code == 200 else response.json()["error"]["code"]


def change_voice():
    speech_settings_update(speech_settings=speech_settings_for_change(tenant_id=tenant.pk), changes={"voice": "coral"})


def revoke_key():
    key = TenantAPIKey.objects.get(pk=api_key.pk)
    key.revoked = True
    key.save()


def in_the_window(change):
    """What a request sees while `change` waits to commit, and what the first request after the commit sees."""
    changed, commit = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                change()
                changed.set()
                commit.wait(10)
        finally:
            changed.set()
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    changed.wait(10)
    during = request()
    commit.set()
    thread.join(10)
    return {"during": during, "after": request()}


seen = {"before": request()}
seen["voice"] = in_the_window(change_voice)
seen["revocation"] = in_the_window(revoke_key)
print(json.dumps(seen))
