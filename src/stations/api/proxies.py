"""Which address a request comes from: the peer, or the hop a trusted reverse proxy names.

Behind a reverse proxy every request comes from the proxy, so the real client is read from
``X-Forwarded-For``. That header is whatever the client sent, with each proxy appending the
address it saw, so only the hops appended by proxies we trust mean anything: walking from the
right, the first address that is not a trusted proxy is the client. Nothing is believed unless
the peer itself is a trusted proxy (STATIONS_TRUSTED_PROXIES, none by default), so a client
cannot choose its own address, and so its own rate-limit bucket (`stations.storage.reports`).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from starlette.types import Scope

_SCHEMES = {"http", "https"}


class TrustedProxies:
    """The reverse proxies whose forwarding headers are believed.

    Parameters
    ----------
    entries
        IP addresses or networks in CIDR notation (``127.0.0.1``, ``10.0.0.0/8``, ``::1``).
    """

    def __init__(self, entries: Sequence[str]) -> None:
        self.networks = [ip_network(entry, strict=False) for entry in entries]

    def trusts(self, host: str) -> bool:
        """Whether ``host`` (an address as text) is one of the trusted proxies."""
        address = _address(host)
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, forwarded_for: Sequence[str]) -> str:
        """The client's address: the rightmost untrusted hop when ``peer`` is trusted.

        ``forwarded_for`` holds the hops of every ``X-Forwarded-For`` header, in order. A hop
        that is not an address (a proxy passing the client's header through unchanged) is
        not believed: the answer is then the last hop a trusted proxy vouched for.
        """
        if not self.trusts(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for):
            address = _address(hop)
            if address is None:
                return client
            client = str(address)
            if not self.trusts(client):
                return client
        return client  # every hop is a trusted proxy: the leftmost is the client

    def resolve(self, scope: Scope) -> None:
        """Put the real client (and scheme) in ``scope`` when its peer is a trusted proxy."""
        peer = scope.get("client")
        if not peer or not self.trusts(peer[0]):
            return
        hops: list[str] = []
        scheme = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops += value.decode("latin-1").split(",")
            elif name == b"x-forwarded-proto":
                scheme = value.decode("latin-1").strip().lower()
        scope["client"] = (self.client(peer[0], hops), 0)
        if scheme in _SCHEMES and scope["type"] == "http":
            scope["scheme"] = scheme


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """``text`` as an address (``1.2.3.4``, ``[::1]:80``, ``1.2.3.4:5678``), or None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
