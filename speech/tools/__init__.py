"""Tools a tenant gives its voice agent: function tools (webhook or built-in) and MCP servers."""
