"""hooks/addresses.py: which webhook destinations are refused, however the address is written."""

import pytest

from hooks.addresses import is_private, numeric_spelling, obviously_private


@pytest.mark.parametrize(
    "address, private",
    [
        ("93.184.215.14", False), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False),
        ("64:ff9b::5db8:d70e", False),  # NAT64 of a public address
        ("2002:5db8:d70e::1", False),  # 6to4 of a public address
        ("127.0.0.1", True), ("10.1.2.3", True), ("169.254.169.254", True), ("224.0.0.1", True), ("::1", True),
        ("::ffff:127.0.0.1", True), ("::ffff:0:7f00:1", True), ("::ffff:0:a9fe:a9fe", True), ("::127.0.0.1", True), ("::", True), ("64:ff9b::a00:1", True),
        ("64:ff9b:1::5db8:d70e", True), ("2002:7f00:1::1", True), ("fe80::1%eth0", True), ("fc00::1", True),
    ],
)
def test_it_judges_an_address_and_the_ipv4_address_inside_it(address, private):
    assert is_private(address) is private


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "x.localhost.", "localhost.", "127.0.0.1", "::ffff:0:7f00:1"])
def test_it_knows_a_loopback_host_without_asking_dns(host):
    assert obviously_private(host)


@pytest.mark.parametrize("host", ["example.com", "localhost.example.com", "93.184.215.14", "not an address"])
def test_it_leaves_a_name_to_be_resolved_at_the_send(host):
    assert not obviously_private(host)


@pytest.mark.parametrize(
    "host, numeric",
    [
        ("2130706433", True), ("0x7f000001", True), ("0X7F000001", True), ("127.1", True), ("0177.0.0.1", True),
        ("127.0.0.01", True), ("1.2.3.4.5", True), ("127.0.0.1", False), ("127.0.0.1.", False), ("example.com", False),
        ("1.example", False), ("0xdead.example", False), ("", False),
    ],
)
def test_it_tells_an_address_written_as_a_number(host, numeric):
    assert numeric_spelling(host) is numeric
