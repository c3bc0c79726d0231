"""Staff status (admin-site access) is not a tenant role: rights come from a membership, an operator's
explicit permission, or being a superuser (docs/security.md, "Who may do what")."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from settings_admin.models import Membership, Role

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def code(response):
    return response.json()["error"]["code"]


@pytest.fixture
def bare_staff(speech_settings, django_user_model):
    """Staff with no permission and no membership: may open the admin site, nothing else."""
    return login(django_user_model.objects.create_user("sam", is_staff=True))


def test_bare_staff_cannot_read_a_tenants_settings(bare_staff):
    response = bare_staff.get("/api/v1/settings/speech")
    assert response.status_code == 403
    assert code(response) == "not_a_member"


def test_bare_staff_cannot_change_a_tenants_settings(bare_staff, speech_settings):
    response = bare_staff.patch(
        "/api/v1/settings/speech", data=json.dumps({"voice": "ash"}), content_type="application/json"
    )
    assert response.status_code == 403
    assert code(response) == "not_a_member"
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "verse"


def test_bare_staff_cannot_mint_for_a_tenant(bare_staff, openai_mint):
    response = bare_staff.post("/realtime_session", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert code(response) == "not_a_member"
    assert len(openai_mint.calls) == 0


def test_bare_staff_gets_the_not_a_member_page(bare_staff):
    assert bare_staff.get("/").status_code == 403
    assert bare_staff.get("/api/v1/settings/me").status_code == 403


def test_a_tenant_member_is_not_a_tenant_admin(logged_in_client):
    assert logged_in_client.get("/api/v1/settings/speech").status_code == 403
    assert logged_in_client.get("/api/v1/settings/me").json()["tenant_admin"] is False


def test_an_operators_explicit_permission_manages_every_tenant(speech_settings, django_user_model):
    operator = django_user_model.objects.create_user("olga")
    operator.user_permissions.add(Permission.objects.get(codename="change_speechsettings"))
    client = login(operator)
    assert client.get("/api/v1/settings/speech").status_code == 200
    assert client.get("/api/v1/settings/me").json()["tenant_admin"] is True


def test_a_tenant_admin_membership_manages_its_tenant(speech_settings, django_user_model):
    user = django_user_model.objects.create_user("tara")
    Membership.objects.create(user=user, tenant=speech_settings.tenant, role=Role.ADMIN)
    assert login(user).get("/api/v1/settings/speech").status_code == 200


def test_a_superuser_keeps_everything(admin_client, speech_settings, openai_mint):
    assert admin_client.get("/api/v1/settings/speech").status_code == 200
    assert admin_client.post("/realtime_session", data="{}", content_type="application/json").status_code == 200
