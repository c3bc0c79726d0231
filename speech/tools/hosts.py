"""Where a tenant's webhook or MCP server URL may point: checked when saved and again at run time.

A tenant admin chooses these URLs, and the gateway (or the provider, for MCP) sends requests there,
so the rules are the operator's:
- https:// only; no user information, fragment, spaces, backslashes or non-ASCII characters;
- the host must match SPEECH_TOOL_ALLOWED_HOSTS ("host", "host:port", "[ipv6]:port", ".suffix",
  or "*" for any public host);
- a literal private, loopback, link-local, reserved or multicast address passes only when an entry
  names it exactly, and so does every address a name resolves to at run time (tool_url_addresses):
  a name that an attacker points at 127.0.0.1 or 169.254.169.254 is refused when the request is made.
Numeric host forms that resolvers read as addresses ("2130706433", "0x7f.1", "127.1") are refused.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

from ..providers.base import DNS_NAME, host_allowed, host_entry_valid

ANY_PUBLIC_HOST = "*"
# Printable ASCII, no space, quote, backslash, angle bracket or "@" (user information).
URL_TEXT = re.compile(r"^[\x21-\x7e]+$")
URL_FORBIDDEN = re.compile(r"[\\\"'<>`{}|^@\s]")
NETLOC = re.compile(r"^[a-z0-9.\-:\[\]]+$")
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def tool_host_entry_valid(entry):
    """Whether `entry` may stand in SPEECH_TOOL_ALLOWED_HOSTS."""
    return entry.strip() == ANY_PUBLIC_HOST or host_entry_valid(entry)


def _address(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _public(address):
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _named_exactly(host, port, allowed):
    """Whether an entry of `allowed` names `host` itself (not through ".suffix" or "*")."""
    exact = [entry for entry in allowed if entry.strip() != ANY_PUBLIC_HOST and not entry.strip().startswith(".")]
    return host_allowed(host, port, exact)


def _split(url):
    """(host, port) of `url`, or a problem string."""
    if not isinstance(url, str) or not url:
        return "Give a URL."
    if len(url) > 2000:
        return "The URL is longer than 2000 characters."
    if not URL_TEXT.match(url) or URL_FORBIDDEN.search(url):
        return "The URL may hold only printable ASCII without spaces, quotes, backslashes or '@'."
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or ""), parts.port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme != "https":
        return "The URL must use https://."
    if parts.fragment or "#" in url:
        return "The URL must not hold a fragment."
    if not NETLOC.match(parts.netloc) or not host:
        return "The URL's host is not a valid host name."
    return host, port or 443


def tool_url_problem(url):
    """Why `url` cannot serve as a webhook or MCP server URL, or None when it can (no DNS lookup)."""
    split = _split(url)
    if isinstance(split, str):
        return split
    host, port = split
    allowed = list(settings.SPEECH_TOOL_ALLOWED_HOSTS)
    address = _address(host)
    if address is None:
        if not DNS_NAME.match(host) or NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            return "The URL's host is not a valid host name."
        if host == "localhost" or host.endswith(".localhost"):
            if not _named_exactly(host, port, allowed):
                return f"{host} is a loopback name; an operator must name it in SPEECH_TOOL_ALLOWED_HOSTS."
            return None
    elif not _public(address):
        if _named_exactly(host, port, allowed):
            return None
        return (
            f"{host} is a private, loopback or reserved address; an operator must name it in SPEECH_TOOL_ALLOWED_HOSTS."
        )
    if ANY_PUBLIC_HOST in [entry.strip() for entry in allowed] or host_allowed(host, port, allowed):
        return None
    return f"{host} is not an allowed host for tools. An operator can allow it in SPEECH_TOOL_ALLOWED_HOSTS."


def tool_address_problem(url, address):
    """Why the resolved `address` of `url`'s host must not be connected to, or None. For run time, after
    tool_url_problem(url) passed: a non-public address passes only when the host is named exactly."""
    split = _split(url)
    if isinstance(split, str):
        return split
    host, port = split
    try:
        resolved = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "The host resolved to something that is not an address."
    if _public(resolved) or _named_exactly(host, port, list(settings.SPEECH_TOOL_ALLOWED_HOSTS)):
        return None
    return f"{host} resolves to {resolved}, a private, loopback or reserved address."


def tool_url_addresses(url, *, resolve=socket.getaddrinfo):
    """(the addresses to connect to, problem): resolves `url`'s host and checks every address. Connect only
    to the returned ones (a second lookup could answer differently). `problem` is None when usable.
    `resolve` has getaddrinfo's signature (a seam for tests: a name an attacker points anywhere)."""
    problem = tool_url_problem(url)
    if problem:
        return [], problem
    host, port = _split(url)
    try:
        infos = resolve(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return [], f"{host} does not resolve."
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if problem := tool_address_problem(url, address):
            return [], problem
    return addresses, None
