"""A user's choices for their next sessions, saved through settings_admin.services.user_preference_set."""

import pytest
from django.core.exceptions import ValidationError

from settings_admin.models import UserPreference
from settings_admin.services import user_preference_set

pytestmark = pytest.mark.django_db


def test_a_choice_the_tenant_allows_is_saved_and_changed_in_place(user, speech_settings):
    user_preference_set(user=user, speech_settings=speech_settings, choice={"voice": "cedar", "model": ""})
    preference = user_preference_set(user=user, speech_settings=speech_settings, choice={"turn_mode": "push_to_talk"})
    assert (preference.voice, preference.model, preference.turn_mode) == ("cedar", "", "push_to_talk")
    assert UserPreference.objects.get(user=user, tenant=speech_settings.tenant) == preference


def test_a_voice_or_model_the_tenant_does_not_allow_is_a_field_error_and_saves_nothing(user, speech_settings):
    speech_settings.allowed_voices = ["verse", "marin"]
    speech_settings.save()
    with pytest.raises(ValidationError) as refused:
        user_preference_set(
            user=user, speech_settings=speech_settings, choice={"voice": "cedar", "model": "gpt-realtime-mini"}
        )
    assert refused.value.message_dict == {
        "voice": ["This voice is not allowed for this tenant."],
        "model": ["This model is not allowed for this tenant."],
    }
    assert not UserPreference.objects.exists()


def test_an_unknown_turn_mode_is_a_field_error(user, speech_settings):
    with pytest.raises(ValidationError) as refused:
        user_preference_set(user=user, speech_settings=speech_settings, choice={"turn_mode": "telepathy"})
    assert list(refused.value.message_dict) == ["turn_mode"]
    assert not UserPreference.objects.exists()
