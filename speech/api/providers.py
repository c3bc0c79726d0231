"""GET /api/v1/providers: the provider registry."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.registry import registry

from ..schema import error_responses
from ..serializers import serializer_field_schema


class ProvidersApi(APIView):
    """GET /api/v1/providers: the providers this gateway offers, with their catalogs and options."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()
        models = serializers.ListField(child=serializers.CharField())
        voices = serializers.ListField(child=serializers.CharField())
        default_model = serializers.CharField()
        default_voice = serializers.CharField()
        default_endpoint = serializers.CharField()
        deprecated_models = serializers.DictField(child=serializers.CharField())
        options = serializers.SerializerMethodField(help_text="JSON Schema of the provider's options.")

        def get_options(self, provider) -> dict:
            return serializer_field_schema(provider.options_serializer())

    @extend_schema(
        operation_id="providers_list",
        summary="List providers",
        responses={200: OutputSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return Response(self.OutputSerializer(registry.all(), many=True).data)
