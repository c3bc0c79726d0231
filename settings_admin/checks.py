from django.core.checks import Error, register

from .conf import conf


@register()
def check_providers(app_configs=None, **kwargs):
    from django.utils.module_loading import import_string

    errors, seen = [], {}
    for path in conf.SPEECH_PROVIDERS:
        try:
            provider_class = import_string(path)
        except ImportError as exc:
            errors.append(Error(f"SPEECH_PROVIDERS entry {path!r} cannot be imported: {exc}", id="settings_admin.E001"))
            continue
        provider_id = getattr(provider_class, "id", None)
        if not provider_id:
            errors.append(Error(f"Provider {path!r} declares no id.", id="settings_admin.E002"))
        elif provider_id in seen:
            errors.append(
                Error(
                    f"Providers {seen[provider_id]!r} and {path!r} share the id {provider_id!r}.",
                    id="settings_admin.E003",
                )
            )
        seen[provider_id] = path
    if not conf.SPEECH_PROVIDERS:
        errors.append(Error("SPEECH_PROVIDERS lists no provider.", id="settings_admin.E004"))
    return errors


@register()
def check_secrets_backend(app_configs=None, **kwargs):
    from django.utils.module_loading import import_string

    try:
        import_string(conf.SPEECH_SECRETS_BACKEND)
    except ImportError as exc:
        return [
            Error(
                f"SPEECH_SECRETS_BACKEND {conf.SPEECH_SECRETS_BACKEND!r} cannot be imported: {exc}",
                id="settings_admin.E005",
            )
        ]
    return []
