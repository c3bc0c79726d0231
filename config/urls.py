from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.login import AdminLoginForm, LoginForm
from speech.ops.csp import docs_csp

# The admin's login page says so when django-axes has paused logins (config/login.py).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", docs_csp(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("", include("speech.urls")),
]

# API paths answer JSON with a stable code even for a path that does not exist or an unexpected error.
handler404 = "speech.ops.error_pages.page_not_found"
handler500 = "speech.ops.error_pages.server_error"
