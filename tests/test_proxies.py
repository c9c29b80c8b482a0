"""Client addresses behind reverse proxies: only hops appended by trusted proxies are believed."""

import pytest

from stations.api.proxies import TrustedProxies
from stations.settings import Settings

PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "hops", "client"),
    [
        # an untrusted peer is the client, whatever it claims
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),
        # a trusted peer without the header is the client
        ("127.0.0.1", [], "127.0.0.1"),
        # the rightmost untrusted hop, not what the client put on the left
        ("127.0.0.1", ["6.6.6.6", "203.0.113.5"], "203.0.113.5"),
        ("127.0.0.1", [" 6.6.6.6", " 203.0.113.5 ", "10.1.2.3"], "203.0.113.5"),
        # every hop trusted: the leftmost
        ("10.0.0.1", ["10.0.0.7", "127.0.0.1"], "10.0.0.7"),
        # a hop that is not an address is not believed: the last vouched-for hop is the client
        ("127.0.0.1", ["203.0.113.5", "not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["garbage", "10.0.0.3"], "10.0.0.3"),
        # ports and brackets, IPv6, IPv4 seen through an IPv6 socket
        ("::1", ["[2001:db8::7]:4711"], "2001:db8::7"),
        ("::ffff:127.0.0.1", ["203.0.113.5:80"], "203.0.113.5"),
    ],
)
def test_client_is_the_rightmost_untrusted_hop(peer, hops, client):
    assert PROXIES.client(peer, hops) == client


def test_nothing_is_trusted_by_default():
    settings = Settings(_env_file=None)
    assert settings.trusted_proxies == []
    assert TrustedProxies(settings.trusted_proxies).client("127.0.0.1", ["6.6.6.6"]) == "127.0.0.1"


def test_resolve_sets_client_and_scheme_from_a_trusted_peer_only():
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.5"), (b"x-forwarded-proto", b"https")]
    scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http", "headers": headers}
    PROXIES.resolve(scope)
    assert scope["client"] == ("203.0.113.5", 0) and scope["scheme"] == "https"
    scope = {"type": "http", "client": ("198.51.100.1", 5000), "scheme": "http", "headers": headers}
    PROXIES.resolve(scope)
    assert scope["client"] == ("198.51.100.1", 5000) and scope["scheme"] == "http"


def test_a_proxy_setting_that_is_not_an_address_is_refused():
    with pytest.raises(ValueError, match="'nginx' is not an IP address"):
        Settings(_env_file=None, trusted_proxies="127.0.0.1,nginx")
