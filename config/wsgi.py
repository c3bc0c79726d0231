import gc
import os

from django.core.wsgi import get_wsgi_application

from speech.ops.after_response import AfterResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Bookkeeping queued by a request (speech.ops.after_response) runs when the server closes its response.
application = AfterResponse(django_application)

# The app is loaded: set its objects aside from the cycle collector, whose full collections would
# otherwise walk all of Django on the request path (a latency spike each time).
gc.freeze()
