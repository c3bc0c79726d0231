"""The input serializers' base: unknown fields refused, strings only."""

from rest_framework import serializers

from speech.serializers import StrictSerializer, StringField


class Choice(StrictSerializer):
    voice = StringField(required=False, max_length=8)
    names = serializers.ListField(child=StringField(max_length=4), required=False)


def test_unknown_fields_are_refused_by_name():
    serializer = Choice(data={"voice": "verse", "vioce": "x"})
    assert not serializer.is_valid()
    assert serializer.errors == {"vioce": ["Unknown field."]}


def test_string_fields_take_only_strings():
    serializer = Choice(data={"voice": 12})
    assert not serializer.is_valid()
    assert serializer.errors["voice"][0].code == "invalid"
