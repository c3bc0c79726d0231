"""The built-in local provider: an offline OpenAI-compatible realtime service (`python -m speech.local`).

Imports no Django: the gateway reaches it over HTTP and WebSocket only, like any provider.
"""

LOCAL_MODEL = "local-echo"
