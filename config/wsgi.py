import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# The app is loaded: set its objects aside from the cycle collector, whose full collections would
# otherwise walk all of Django on the request path (a latency spike each time).
gc.freeze()
