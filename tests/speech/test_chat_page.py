import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_chat_page_sends_anonymous_users_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_the_login_page_uses_the_projects_template_and_logs_in(client, user):
    page = client.get("/login/")
    assert page.status_code == 200
    assert "registration/login.html" in [t.name for t in page.templates]
    response = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_is_explained(client, user):
    page = client.post("/login/", {"username": "alice", "password": "nope"})
    assert "didn't match" in page.content.decode()


def test_the_chat_page_has_the_controls_and_no_secret(logged_in_client, speech_settings):
    page = logged_in_client.get("/")
    html = page.content.decode()
    assert page.status_code == 200
    for element in [
        'id="connect"',
        'id="hangup"',
        'id="mute"',
        'id="status"',
        'id="mic-level"',
        'id="transcript"',
        'id="message-form"',
        'data-session-url="/realtime_session"',
    ]:
        assert element in html
    assert "speech/main.js" in html
    assert "csrftoken" in page.cookies
    assert "sk-" not in html


def test_the_chat_page_of_a_host_without_tenant_is_404(logged_in_client, speech_settings):
    speech_settings.tenant.is_active = False
    speech_settings.tenant.save()
    assert logged_in_client.get("/").status_code == 404


def test_static_modules_are_served(client):
    for path in ["speech/main.js", "speech/speech-store.js", "speech/transports/openai-webrtc.js", "css/app.css"]:
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path


def test_bootstrap_creates_one_admin_and_prints_the_password_once(db, capsys, monkeypatch):
    from django.contrib.auth import get_user_model

    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("bootstrap")
    first = capsys.readouterr().out
    call_command("bootstrap")
    second = capsys.readouterr().out
    assert "Admin login created: admin / " in first
    assert "already set up" in second
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_bootstrap_takes_the_password_from_the_environment(db, capsys, monkeypatch):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-from-env")
    call_command("bootstrap")
    assert "s3cret-from-env" not in capsys.readouterr().out
    login = RequestFactory().post("/login/")  # django-axes checks every login against its request
    assert authenticate(login, username="ops", password="s3cret-from-env") is not None
