from django.apps import AppConfig


class SettingsAdminConfig(AppConfig):
    name = "settings_admin"
    verbose_name = "Speech settings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals  # noqa: F401  (registers checks and signal handlers)
