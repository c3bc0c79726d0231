"""/api/v1/tools and /api/v1/mcp_servers: a tenant's tools, for its admins and admin-scoped API keys (docs/tools.md).

Secrets go one way: a webhook's signing secret is in the answer that creates (or rotates) it and
never again; an MCP authorization is written, never read back (`authorization_set` says whether one is kept).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.selectors import ApiKeyView

from ..permissions import CanManageSettings
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..throttling import SettingsWriteThrottle
from ..tools import services
from ..tools.models import TIMEOUT_MAX, TIMEOUT_MIN, ApprovalPolicy, ToolKind
from ..tools.selectors import mcp_servers_of_tenant, tools_of_tenant

ACCESS = ("not_a_member", "api_key_scope", "api_key_wrong_tenant", "tenant_not_found")
WRITE = (*ACCESS, "rate_limited", "tool_invalid", "tool_name_invalid", "tool_url_forbidden", "tool_schema_invalid",
         "tool_schema_too_large", "tool_name_reserved", "tool_name_taken", "builtin_unknown", "tools_limit_reached",
         "tool_secret_unavailable")  # fmt: skip
MCP_WRITE = (*ACCESS, "rate_limited", "tool_invalid", "tool_name_invalid", "tool_url_forbidden", "tool_name_taken",
             "tools_limit_reached", "mcp_authorization_unavailable", "tool_secret_unavailable")  # fmt: skip


class ToolOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField(help_text='A JSON Schema of "type": "object".')
    enabled = serializers.BooleanField()
    timeout_seconds = serializers.FloatField()
    kind = serializers.ChoiceField(choices=ToolKind.choices)
    webhook_url = serializers.CharField()
    builtin = serializers.CharField()
    mask_arguments = serializers.BooleanField()
    mask_result = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ToolWithSecretOutput(ToolOutput):
    webhook_secret = serializers.CharField(
        allow_null=True,
        help_text="The Standard Webhooks signing secret (whsec_...), shown only in this answer; null when none.",
    )


class ToolInput(StrictSerializer):
    name = StringField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    parameters = serializers.JSONField(required=False, help_text='A JSON Schema of "type": "object".')
    enabled = serializers.BooleanField(required=False)
    timeout_seconds = serializers.FloatField(required=False, min_value=TIMEOUT_MIN, max_value=TIMEOUT_MAX)
    kind = serializers.ChoiceField(choices=ToolKind.choices, required=False)
    webhook_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    builtin = StringField(required=False, allow_blank=True, max_length=64)
    mask_arguments = serializers.BooleanField(required=False)
    mask_result = serializers.BooleanField(required=False)


def _who(request):
    """Who acts, for the change record."""
    return {"user": request.user, "api_key": request.auth if isinstance(request.auth, ApiKeyView) else None}


def _with_secret(change):
    return {**ToolOutput(change.tool).data, "webhook_secret": change.webhook_secret}


class ToolsApi(APIView):
    """GET/POST /api/v1/tools."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

    @extend_schema(
        operation_id="tools_list",
        summary="List the tenant's tools",
        responses={200: ToolOutput(many=True), **error_responses(*ACCESS)},
    )
    def get(self, request):
        tools = tools_of_tenant(tenant_id=request.speech_settings.tenant_id)
        return Response(ToolOutput(tools, many=True).data)

    @extend_schema(
        operation_id="tools_create",
        summary="Add a tool",
        description="A webhook tool's signing secret is in this answer only (`webhook_secret`).",
        request=ToolInput,
        responses={201: ToolWithSecretOutput, **error_responses(*WRITE)},
    )
    def post(self, request):
        serializer = ToolInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = services.tool_create(
            tenant_id=request.speech_settings.tenant_id, values=serializer.validated_data, **_who(request)
        )
        return Response(_with_secret(change), status=status.HTTP_201_CREATED)


class ToolApi(APIView):
    """GET/PATCH/DELETE /api/v1/tools/{id}."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

    def _tool(self, request, pk):
        return services.tool_get(tenant_id=request.speech_settings.tenant_id, tool_id=pk)

    @extend_schema(
        operation_id="tools_retrieve",
        summary="Read a tool",
        responses={200: ToolOutput, **error_responses(*ACCESS, "tool_not_found")},
    )
    def get(self, request, pk):
        return Response(ToolOutput(self._tool(request, pk)).data)

    @extend_schema(
        operation_id="tools_partial_update",
        summary="Change a tool",
        description="A tool that becomes a webhook gets a signing secret, in this answer only.",
        request=ToolInput(partial=True),
        responses={200: ToolWithSecretOutput, **error_responses(*WRITE, "tool_not_found")},
    )
    def patch(self, request, pk):
        tool = self._tool(request, pk)
        serializer = ToolInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        change = services.tool_update(tool=tool, changes=serializer.validated_data, **_who(request))
        return Response(_with_secret(change))

    @extend_schema(
        operation_id="tools_destroy",
        summary="Delete a tool",
        responses={204: None, **error_responses(*ACCESS, "rate_limited", "tool_not_found", "tool_secret_unavailable")},
    )
    def delete(self, request, pk):
        services.tool_delete(tool=self._tool(request, pk), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolSecretApi(APIView):
    """POST /api/v1/tools/{id}/webhook_secret: a new signing secret."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

    @extend_schema(
        operation_id="tools_webhook_secret_rotate",
        summary="Rotate a webhook tool's signing secret",
        description="The old secret stops verifying at once; the new one is in this answer only.",
        request=None,
        responses={
            200: ToolWithSecretOutput,
            **error_responses(*ACCESS, "rate_limited", "tool_not_found", "tool_invalid", "tool_secret_unavailable"),
        },
    )
    def post(self, request, pk):
        tool = services.tool_get(tenant_id=request.speech_settings.tenant_id, tool_id=pk)
        return Response(_with_secret(services.tool_webhook_secret_rotate(tool=tool, **_who(request))))


# --- MCP servers ------------------------------------------------------------------------------------------


class McpServerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    server_label = serializers.CharField()
    server_url = serializers.CharField()
    allowed_tools = serializers.ListField(child=serializers.CharField())
    require_approval = serializers.ChoiceField(choices=ApprovalPolicy.choices)
    approved_tools = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    authorization_set = serializers.SerializerMethodField(help_text="Whether one is kept (never its value).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_authorization_set(self, server) -> bool:
        return bool(server.authorization_ref)


class McpServerInput(StrictSerializer):
    server_label = StringField(max_length=64)
    server_url = StringField(max_length=2000)
    allowed_tools = serializers.ListField(child=StringField(max_length=128), required=False, max_length=128)
    require_approval = serializers.ChoiceField(choices=ApprovalPolicy.choices, required=False)
    approved_tools = serializers.ListField(child=StringField(max_length=128), required=False, max_length=128)
    enabled = serializers.BooleanField(required=False)
    authorization = StringField(
        required=False,
        allow_blank=True,
        max_length=4096,
        write_only=True,
        help_text='What the provider sends the server, e.g. "Bearer ..."; kept in the secrets backend; "" removes it.',
    )


def _mcp_values(validated):
    values = dict(validated)
    return values, values.pop("authorization", services.UNSET)


class McpServersApi(APIView):
    """GET/POST /api/v1/mcp_servers."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

    @extend_schema(
        operation_id="mcp_servers_list",
        summary="List the tenant's MCP servers",
        responses={200: McpServerOutput(many=True), **error_responses(*ACCESS)},
    )
    def get(self, request):
        servers = mcp_servers_of_tenant(tenant_id=request.speech_settings.tenant_id)
        return Response(McpServerOutput(servers, many=True).data)

    @extend_schema(
        operation_id="mcp_servers_create",
        summary="Add an MCP server",
        request=McpServerInput,
        responses={201: McpServerOutput, **error_responses(*MCP_WRITE)},
    )
    def post(self, request):
        serializer = McpServerInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        values, authorization = _mcp_values(serializer.validated_data)
        server = services.mcp_server_create(
            tenant_id=request.speech_settings.tenant_id,
            values=values,
            authorization="" if authorization is services.UNSET else authorization,
            **_who(request),
        )
        return Response(McpServerOutput(server).data, status=status.HTTP_201_CREATED)


class McpServerApi(APIView):
    """GET/PATCH/DELETE /api/v1/mcp_servers/{id}."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

    def _server(self, request, pk):
        return services.mcp_server_get(tenant_id=request.speech_settings.tenant_id, server_id=pk)

    @extend_schema(
        operation_id="mcp_servers_retrieve",
        summary="Read an MCP server",
        responses={200: McpServerOutput, **error_responses(*ACCESS, "mcp_server_not_found")},
    )
    def get(self, request, pk):
        return Response(McpServerOutput(self._server(request, pk)).data)

    @extend_schema(
        operation_id="mcp_servers_partial_update",
        summary="Change an MCP server",
        request=McpServerInput(partial=True),
        responses={200: McpServerOutput, **error_responses(*MCP_WRITE, "mcp_server_not_found")},
    )
    def patch(self, request, pk):
        server = self._server(request, pk)
        serializer = McpServerInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values, authorization = _mcp_values(serializer.validated_data)
        server = services.mcp_server_update(
            server=server, changes=values, authorization=authorization, **_who(request)
        )
        return Response(McpServerOutput(server).data)

    @extend_schema(
        operation_id="mcp_servers_destroy",
        summary="Delete an MCP server",
        responses={
            204: None,
            **error_responses(*ACCESS, "rate_limited", "mcp_server_not_found", "tool_secret_unavailable"),
        },
    )
    def delete(self, request, pk):
        services.mcp_server_delete(server=self._server(request, pk), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
