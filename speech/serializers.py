from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """A serializer that refuses fields it does not define, so a typo is an error, not a silent no-op."""

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown}, code="unknown_field")
        return super().validate(attrs)


class StringField(serializers.CharField):
    """A CharField that takes only JSON strings (DRF's would turn 12 into "12")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def serializer_field_schema(serializer):
    """A JSON Schema for a (flat) serializer, so clients can build a form for a provider's options."""
    properties = {}
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ChoiceField):
            spec = {"type": "string", "enum": list(field.choices)}
        elif isinstance(field, serializers.BooleanField):
            spec = {"type": "boolean"}
        elif isinstance(field, serializers.IntegerField | serializers.FloatField):
            spec = {"type": "integer" if isinstance(field, serializers.IntegerField) else "number"}
            if field.min_value is not None:
                spec["minimum"] = field.min_value
            if field.max_value is not None:
                spec["maximum"] = field.max_value
        else:
            spec = {"type": "string"}
            if getattr(field, "max_length", None):
                spec["maxLength"] = field.max_length
        if field.help_text:
            spec["description"] = str(field.help_text)
        properties[name] = spec
    return {"type": "object", "properties": properties, "additionalProperties": False}
