"""Addresses: parsed once where text comes in (convert.address), printed by str() where text goes out."""
import pytest

from buildout_harness import error_of, site_buildout
from sitestack.recipes import convert
from sitestack.recipes.address import Address
from sitestack.recipes.errors import Invalid
from sitestack.recipes.haproxy import Recipe as Haproxy


@pytest.mark.parametrize(("text", "address"), [
    ("127.0.0.1:8080", Address("127.0.0.1", 8080)),
    (" 10.0.0.2:1 ", Address("10.0.0.2", 1)),
    ("localhost:65535", Address("127.0.0.1", 65535)),
    ("[::1]:8081", Address("::1", 8081)),
    ("[0:0:0:0:0:0:0:1]:8081", Address("::1", 8081)),
])
def test_good_addresses_parse(text, address):
    assert convert.address(text) == address


@pytest.mark.parametrize(("text", "message"), [
    ("127.0.0.1", "expected host:port such as 127.0.0.1:8080"),  # no port
    ("127.0.0.1:", "expected host:port such as 127.0.0.1:8080"),
    (":8080", "expected host:port such as 127.0.0.1:8080"),  # no host
    ("", "expected host:port such as 127.0.0.1:8080"),
    ("::1:8080", "expected host:port such as 127.0.0.1:8080"),  # IPv6 without brackets
    ("127.0.0.1:0", "expected host:port such as 127.0.0.1:8080; expected a TCP port from 1 to 65535"),
    ("127.0.0.1:65536", "expected host:port such as 127.0.0.1:8080; expected a TCP port from 1 to 65535"),
    ("web:8080", "expected host:port such as 127.0.0.1:8080; expected an IP address such as 127.0.0.1"),
])
def test_bad_addresses_say_what_is_wrong(text, message):
    with pytest.raises(Invalid) as error:
        convert.address(text)
    assert str(error.value) == message


def test_str_is_host_colon_port_with_ipv6_in_brackets():
    assert str(Address("127.0.0.1", 8080)) == "127.0.0.1:8080"
    assert str(Address("::1", 8080)) == "[::1]:8080"
    assert f"http://{Address('::1', 8080)}/health" == "http://[::1]:8080/health"


def test_str_parses_back():
    for address in (Address("10.77.0.2", 8081), Address("::1", 6082)):
        assert convert.address(str(address)) == address


def test_loopback_and_clashes():
    assert Address("127.0.0.2", 1).is_loopback and Address("::1", 1).is_loopback
    assert not Address("10.0.0.1", 1).is_loopback
    assert Address("0.0.0.0", 80).clashes_with(Address("127.0.0.1", 80))
    assert Address("127.0.0.1", 80).clashes_with(Address("127.0.0.1", 80))
    assert not Address("127.0.0.1", 80).clashes_with(Address("127.0.0.2", 80))
    assert not Address("0.0.0.0", 80).clashes_with(Address("0.0.0.0", 81))


def test_a_bad_address_in_an_option_names_the_section_and_option(tmp_path):
    buildout = site_buildout(tmp_path, haproxy={"recipe": "sitestack:haproxy", "servers": "client1=127.0.0.1:99999"})
    assert error_of(lambda: Haproxy(buildout, "haproxy", buildout["haproxy"])) == (
        "[haproxy] servers: expected host:port such as 127.0.0.1:8080; expected a TCP port from 1 to 65535 "
        "(got 'client1=127.0.0.1:99999')")
