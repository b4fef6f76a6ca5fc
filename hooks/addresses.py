"""Which webhook destinations this server refuses: loopback, private, link-local, reserved and multicast
addresses, however they are written.

An IPv6 address can carry an IPv4 one that the network delivers to: IPv4-mapped (::ffff:127.0.0.1),
IPv4-translated (::ffff:0:127.0.0.1, RFC 6145), IPv4-compatible (::127.0.0.1), NAT64 (64:ff9b::127.0.0.1,
RFC 6052) and 6to4 (2002:7f00:1::). Python's
ipaddress judges only the outer address (it calls 64:ff9b::7f00:1 global), so the inner one is judged too.
"""

import ipaddress
import re

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translator, never public


def _inner_ipv4(ip):
    if ip.version == 4:
        return []
    inner = [ip.ipv4_mapped, ip.sixtofour]
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64:
        inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return [address for address in inner if address is not None]


def is_private(address):
    """True unless `address` (text or an ip_address), and any IPv4 address it carries, is public unicast."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip in _NAT64_LOCAL:
        return True
    return any(not each.is_global or each.is_multicast for each in (ip, *_inner_ipv4(ip)))


def obviously_private(host):
    """A URL's host that names a refused destination without asking DNS: localhost (with or without the
    root's trailing dot) or a refused address. A name is resolved, and checked again, at each send."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return is_private(host)
    except ValueError:
        return False


_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)


def numeric_spelling(host):
    """Whether `host` is an IPv4 address written as a number other than four dotted decimals: 2130706433,
    0x7f000001, 127.1, 0177.0.0.1, 127.0.0.01. inet_aton() reads them as addresses (127.0.0.1 here),
    other parsers as names or not at all, so what one check reads the send could read differently."""
    labels = host.rstrip(".").split(".")
    if not all(_NUMBER.fullmatch(label) for label in labels):
        return False
    try:
        ipaddress.IPv4Address(host.rstrip("."))  # strict: four decimals, no leading zeros
    except ValueError:
        return True
    return False
