"""A second worker process for the rotation test: reads a credential each time it is asked.

stdin: one reference per line; stdout: the credential it resolves, or "-" for none.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
sys.path.insert(0, os.getcwd())

import django  # noqa: E402

django.setup()

from settings_admin.registry import registry  # noqa: E402
from settings_admin.secrets import credential_get  # noqa: E402

print("ready", flush=True)
for line in sys.stdin:
    value = credential_get(reference=line.strip(), provider=registry.get("openai_realtime"))
    print(value or "-", flush=True)
