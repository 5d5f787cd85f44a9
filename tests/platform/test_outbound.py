"""The outbound allow-list: which addresses webhooks and e-mail may reach,
checked after DNS resolution (no database needed)."""

from __future__ import annotations

import socket

import pytest

from metacrm.platform import outbound
from metacrm.platform.config import load_config
from metacrm.platform.errors import ConfigError
from metacrm.platform.outbound import OutboundPolicy, OutboundRefused

DEFAULT = OutboundPolicy()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "0.0.0.0",
        "::",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fc00::1",
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
    ],
)
def test_internal_address_literals_are_refused_by_default(host):
    with pytest.raises(OutboundRefused, match="not in OUTBOUND_ALLOW"):
        DEFAULT.check_host(host, 80)


def test_a_public_address_is_allowed():
    assert DEFAULT.check_host("93.184.216.34", 443)[0][4][0] == "93.184.216.34"


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_is_refused_when_any_address_it_resolves_to_is_internal(monkeypatch):
    _fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.5"], "ok.example": ["93.184.216.34"]})
    with pytest.raises(OutboundRefused, match=r"mixed.example resolves to 10.0.0.5, a private address"):
        DEFAULT.check_host("mixed.example", 443)
    assert len(DEFAULT.check_host("ok.example", 443)) == 1


def test_localhost_is_refused_without_dns_in_definitions():
    for url in ("http://localhost:8080/x", "http://api.localhost/x", "http://[::1]/x", "http://127.0.0.1/x"):
        with pytest.raises(OutboundRefused):
            DEFAULT.check_url(url)
    DEFAULT.check_url("https://hooks.example.com/in")  # names are resolved at delivery, not here


def test_the_allow_list_takes_networks_and_host_names(monkeypatch):
    _fake_dns(
        monkeypatch,
        {"hooks.internal": ["192.168.7.7"], "other.internal": ["192.168.7.8"], "10.20.30.40": ["10.20.30.40"]},
    )
    policy = OutboundPolicy.from_config({"OUTBOUND_ALLOW": ["10.0.0.0/8", "Hooks.Internal"]})
    assert policy.check_host("10.20.30.40", 80)
    assert policy.check_host("hooks.internal", 80)[0][4][0] == "192.168.7.7"
    with pytest.raises(OutboundRefused):
        policy.check_host("other.internal", 80)
    with pytest.raises(OutboundRefused):
        policy.check_host("192.168.0.1", 80)
    policy.check_url("http://hooks.internal/x")


def test_the_allow_list_comes_from_the_environment_comma_separated(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path)}, environ={"METACRM_OUTBOUND_ALLOW": "10.0.0.0/8, hooks.internal"})
    assert config["OUTBOUND_ALLOW"] == ["10.0.0.0/8", "hooks.internal"]
    policy = OutboundPolicy.from_config(config)
    assert [str(n) for n in policy.networks] == ["10.0.0.0/8"] and policy.host_names == {"hooks.internal"}


def test_a_malformed_allow_list_entry_stops_start_up(tmp_path):
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOW"):
        OutboundPolicy.from_config({"OUTBOUND_ALLOW": ["10.0.0.0/33 "]})
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOW"):
        load_config({"DATA_DIR": str(tmp_path), "OUTBOUND_ALLOW": ["not a host!"]}, environ={})


@pytest.mark.parametrize("address", ["root@localhost", "ann@[127.0.0.1]", "bob@[IPv6:::1]", "eve@10.0.0.1"])
def test_email_recipients_naming_internal_hosts_are_refused(address):
    with pytest.raises(OutboundRefused):
        DEFAULT.check_email(address)
    DEFAULT.check_email("ann@example.com")


def test_the_connection_goes_to_the_checked_address_not_a_second_resolution(monkeypatch):
    # A rebinding DNS server answers a public address first, then loopback.
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(
        outbound.socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in next(answers)],
    )
    connected = []

    class FakeSocket:
        def __init__(self, *args):
            pass

        def settimeout(self, timeout):
            pass

        def connect(self, sockaddr):
            connected.append(sockaddr)

    monkeypatch.setattr(outbound.socket, "socket", FakeSocket)
    outbound._checked_connection(DEFAULT)(("rebind.example", 80), 1)
    assert connected == [("93.184.216.34", 80)]
