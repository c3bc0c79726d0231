"""Where a tenant's webhook or MCP server may point: the operator's allow-list, never a private address."""

import socket

import pytest

from speech.tools.hosts import tool_address_problem, tool_host_entry_valid, tool_url_addresses, tool_url_problem


@pytest.fixture(autouse=True)
def allow_list(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["hooks.example.com", ".tenants.example.net", "127.0.0.1:8443"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/orders",
        "https://hooks.example.com:8443/orders?store=12&x=%20",
        "https://a.tenants.example.net/mcp",
        "https://127.0.0.1:8443/hook",  # named exactly by the operator (tests serve webhooks there)
    ],
)
def test_allowed_urls(url):
    assert tool_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/hook", "private, loopback"),  # the exact entry names port 8443 only
        ("https://169.254.169.254/latest/meta-data/", "private, loopback"),
        ("https://10.1.2.3/", "private, loopback"),
        ("https://192.168.0.1/", "private, loopback"),
        ("https://[::1]/", "private, loopback"),
        ("https://[::ffff:127.0.0.1]/", "private, loopback"),
        ("https://[fe80::1]/", "private, loopback"),
        ("https://0.0.0.0/", "private, loopback"),
        ("https://localhost/", "loopback name"),
        ("https://hooks.example.com@127.0.0.1:8443/", "'@'"),  # user information: two parsers, two hosts
        ("https://user:pw@hooks.example.com/", "'@'"),
        ("http://hooks.example.com/", "https://"),
        ("ftp://hooks.example.com/", "https://"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com\\@evil.example/", "backslashes"),
        ("https://hooks.example.com /x", "spaces"),
        ("https://hooks.exämple.com/", "ASCII"),
        ("https://2130706433/", "not a valid host"),  # 127.0.0.1 to inet_aton
        ("https://0x7f.1/", "not a valid host"),
        ("https://127.1/", "not a valid host"),
        ("https://evil.example/", "not an allowed host"),
        ("https://tenants.example.net.evil.example/", "not an allowed host"),
        ("https://8.8.8.8/", "not an allowed host"),
        ("", "Give a URL"),
        ("https://" + "a" * 2000 + ".com/", "longer than"),
    ],
)
def test_refused_urls(url, says):
    assert says in tool_url_problem(url)


def test_any_public_host_with_a_star_but_still_no_private_address(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["*"]
    assert tool_url_problem("https://evil.example/") is None
    assert tool_url_problem("https://8.8.8.8/") is None
    assert "private, loopback" in tool_url_problem("https://10.0.0.1/")
    assert "loopback name" in tool_url_problem("https://localhost/")


def test_a_name_resolving_to_a_private_address_is_refused_at_run_time(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["*"]

    def attacker_dns(host, port, **kwargs):  # the tenant's own DNS answers 127.0.0.1 (then 169.254.169.254)
        return [*socket.getaddrinfo("localhost", port, **kwargs), (socket.AF_INET, 1, 6, "", ("169.254.169.254", port))]

    assert tool_url_problem("https://rebind.evil.example/") is None  # the name itself looks fine
    addresses, problem = tool_url_addresses("https://rebind.evil.example/", resolve=attacker_dns)
    assert addresses == [] and "resolves to" in problem


def test_a_public_answer_is_returned_to_connect_to(settings):
    def public_dns(host, port, **kwargs):
        return [
            (socket.AF_INET, 1, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, 1, 6, "", ("2606:2800::1", port, 0, 0)),
        ]

    addresses, problem = tool_url_addresses("https://hooks.example.com/x", resolve=public_dns)
    assert (addresses, problem) == (["93.184.215.14", "2606:2800::1"], None)


def test_a_loopback_host_named_exactly_may_resolve_to_loopback(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = ["localhost:8443"]
    addresses, problem = tool_url_addresses("https://localhost:8443/hook")
    assert problem is None and addresses
    assert tool_address_problem("https://localhost:8443/hook", "127.0.0.1") is None
    assert "resolves to" in tool_address_problem("https://hooks.example.com/", "10.0.0.7")


def test_an_unresolvable_name_is_a_problem_not_an_error(settings):
    settings.SPEECH_TOOL_ALLOWED_HOSTS = [".invalid"]
    assert tool_url_addresses("https://nowhere.invalid/")[1] == "nowhere.invalid does not resolve."


def test_allow_list_entries_are_checked():
    assert tool_host_entry_valid("*") and tool_host_entry_valid(".example.com")
    assert not tool_host_entry_valid("https://x/") and not tool_host_entry_valid("a b")
