"""The input serializers' base: unknown fields refused, strings only, and fields copied cheaply but never shared."""

from concurrent.futures import ThreadPoolExecutor

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


def test_each_serializer_binds_fields_of_its_own_and_leaves_the_declared_ones_alone():
    first, second = Choice(data={}), Choice(data={})
    for serializer in (first, second):
        assert serializer.fields["voice"].parent is serializer
        assert serializer.fields["names"].child.parent is serializer.fields["names"]
    assert first.fields["voice"] is not second.fields["voice"]
    assert first.fields["names"].child is not second.fields["names"].child
    declared = Choice._declared_fields["voice"]
    assert getattr(declared, "parent", None) is None and declared.source is None


def test_serializers_validating_at_once_keep_their_own_errors():
    def validate(index):
        data = {"voice": "v" * (index % 12), "names": ["ab", "abcde"] if index % 2 else ["ab"]}
        serializer = Choice(data=data)
        serializer.is_valid()
        return index, serializer.errors

    with ThreadPoolExecutor(8) as pool:
        for index, errors in pool.map(validate, range(400)):
            assert ("voice" in errors) == (index % 12 == 0 or index % 12 > 8)  # blank, or too long
            assert ("names" in errors) == bool(index % 2)
