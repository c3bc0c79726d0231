"""Login pages under django-axes: a locked-out login sees the login page again, saying why, with 429.

Axes refuses a locked-out login inside authenticate() (its backend raises PermissionDenied, so the
form sees a failed login) and flags the request; these forms then show the lockout's reason instead
of "wrong password", and the lockout callable keeps that page rather than axes' bare text.
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import ngettext


def lockout_seconds():
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message():
    seconds = lockout_seconds()
    if seconds < 60:
        wait = ngettext("%d second", "%d seconds", seconds) % seconds
    else:
        minutes = -(-seconds // 60)
        wait = ngettext("%d minute", "%d minutes", minutes) % minutes
    return f"Too many failed log-ins from this address or for this user. Logging in is paused: try again in {wait}."


class LockoutAwareFormMixin:
    locked_out = False

    def get_invalid_login_error(self):
        # axes_locked_out: set by django-axes on the request it refused (or locked with this failure).
        self.locked_out = getattr(self.request, "axes_locked_out", False)
        if self.locked_out:
            return ValidationError(lockout_message(), code="locked_out")
        return super().get_invalid_login_error()


class LoginForm(LockoutAwareFormMixin, AuthenticationForm):
    pass


class AdminLoginForm(LockoutAwareFormMixin, AdminAuthenticationForm):
    pass


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the login page the view rendered (with the reason), as 429 Too Many Requests."""
    if original_response is None:  # a login without a page of its own
        response = HttpResponse(lockout_message(), status=429, content_type="text/plain; charset=utf-8")
    else:
        response = original_response
        response.status_code = 429
    response["Retry-After"] = str(lockout_seconds())  # at most: the cool-off runs from the last counted failure
    return response
