from django.apps import AppConfig


class SpeechConfig(AppConfig):
    name = "speech"
    verbose_name = "Realtime speech gateway"

    def ready(self):
        from . import checks, cors, schema  # noqa: F401  (registers checks, the CORS rule and OpenAPI extensions)
        from .calls import signals  # noqa: F401  (a saved call policy applies at the next mint)
        from .tools import signals as tool_signals  # noqa: F401  (a saved tool reaches the next mint)
