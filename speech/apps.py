from django.apps import AppConfig


class SpeechConfig(AppConfig):
    name = "speech"
    verbose_name = "Realtime speech gateway"

    def ready(self):
        from . import checks, schema  # noqa: F401  (registers the system checks and the OpenAPI extensions)
