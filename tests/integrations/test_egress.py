"""Webhooks cannot be aimed at internal services: blocked networks are refused when the subscription names
an address, and on every connection when it names a host (checked on the connected socket)."""

from __future__ import annotations

import urllib.request

import pytest
from sqlalchemy import select

from engine.actors import Actor
from engine.errors import EngineError
from integrations import egress, settings, webhooks
from integrations.models import FAILED, Delivery, DeliveryAttempt
from tests.dossiers.conftest import submit

OWNER = Actor("congdvc", frozenset({"integrator"}))


@pytest.fixture
def restore_settings():
    """Settings are process-wide: whatever a test overrides is put back."""
    previous = settings.current()
    yield
    settings.restore(previous)


@pytest.mark.parametrize(("address", "rule", "refused"), [
    ("169.254.169.254", "link-local", True),  # the cloud metadata service
    ("fe80::1%eth0", "link-local", True),
    ("127.0.0.1", "link-local", False),
    ("127.0.0.1", "private", True),
    ("::ffff:127.0.0.1", "private", True),  # IPv4 written as IPv6
    ("10.1.2.3", "private", True),
    ("100.64.0.9", "private", True),
    ("0.0.0.0", "private", True),
    ("203.113.131.1", "private", False),  # a public address
    ("203.113.131.1", "203.113.128.0/19", True),
    ("2001:db8::1", "2001:db8::/32", True),
    ("fd00:ec2::254", "link-local, metadata", True),  # AWS metadata over IPv6: not link-local
    ("100.100.100.200", "link-local, metadata", True),  # Alibaba Cloud's
    ("64:ff9b::a9fe:a9fe", "link-local, metadata", True),  # 169.254.169.254 through NAT64
    ("2002:a00:5::", "private", True),  # 10.0.0.5 as 6to4
    ("2606:4700::1111", "private", False),
])
def test_the_policy_names_the_rule_that_refuses(address, rule, refused):
    reason = egress.parse(rule, "").refusal(address)
    assert (reason is not None) == refused, reason
    if refused:
        assert "MOTCUA_WEBHOOK_BLOCKED_NETWORKS" in reason


def test_allowed_networks_are_exceptions_and_wrong_entries_are_named(restore_settings):
    policy = egress.parse("private", "10.20.0.0/16")
    assert policy.refusal("10.20.5.5") is None and policy.refusal("10.21.5.5") is not None
    with pytest.raises(ValueError, match="'intranet'"):
        egress.parse("private, intranet", "")
    before = settings.current()
    with pytest.raises(ValueError, match="MOTCUA_WEBHOOK_ALLOWED_NETWORKS"):
        settings.configure({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.300/8"})
    assert settings.current() is before  # a refused configuration changes nothing


def test_a_subscription_to_a_blocked_address_is_refused_with_the_field(onestop, restore_settings):
    with onestop() as s:
        with pytest.raises(EngineError) as caught:  # blocked by default
            webhooks.create_subscription(s, url="http://169.254.169.254/latest/meta-data/", event_types=["*"],
                                         owner=OWNER)
        assert "link-local" in caught.value.detail["errors"]["url"]
        sub = webhooks.create_subscription(s, url="http://127.0.0.1:9/hooks", event_types=["*"], owner=OWNER)
        settings.override(blocked_networks="private")
        with pytest.raises(EngineError, match="may not point there"):
            webhooks.update_subscription(s, sub, {"url": "http://[::1]:9/hooks"})


def test_a_host_name_resolving_to_a_blocked_network_gets_nothing(onestop, receiver, restore_settings):
    settings.override(blocked_networks="private", timeout_seconds=2.0)
    # the subscription names "localhost": accepted when made (a name may move), refused on connect
    with onestop() as s:
        sub = webhooks.create_subscription(s, url=receiver.url.replace("127.0.0.1", "localhost"),
                                           event_types=["*"], owner=OWNER)
        s.commit()
        receiver.secret = sub.secret
        submit(s)
    assert webhooks.send_due(onestop)["failed"] == 1
    assert receiver.received == []  # not one byte reached the receiver
    with onestop() as s:
        delivery = s.scalar(select(Delivery))
        [attempt] = s.scalars(select(DeliveryAttempt))
        assert delivery.status == FAILED and attempt.status_code is None
        # the log names the host and the setting, not the internal address it resolved to
        assert attempt.error == "refused: localhost is in a blocked network (MOTCUA_WEBHOOK_BLOCKED_NETWORKS)"

    # allowed as an exception: the same delivery goes through on its retry
    settings.override(allowed_networks="127.0.0.0/8, ::1/128")
    with onestop() as s:
        webhooks.redeliver(s, s.scalar(select(Delivery)), Actor("admin", frozenset({"admin"})))
        s.commit()
    assert webhooks.send_due(onestop)["delivered"] == 1
    assert len(receiver.accepted()) == 1


def test_the_operators_portal_host_is_trusted_and_proxies_are_not_used(receiver, restore_settings, monkeypatch):
    settings.override(blocked_networks="private", portal_feed_url=f"http://localhost:{receiver.port}/feed",
                      timeout_seconds=2.0)
    policy = webhooks.egress_policy()
    egress.connect(policy, ("localhost", receiver.port), 2.0).close()  # the portal's host: trusted
    with pytest.raises(egress.RefusedAddress):
        egress.connect(policy, ("127.0.0.1", receiver.port), 2.0)  # the same address by another name: not

    # a proxy in the environment would hide the target from the check: deliveries connect directly
    settings.override(blocked_networks="link-local", portal_feed_url=None)
    monkeypatch.setenv("http_proxy", "http://192.0.2.1:9")
    opener = egress.opener(webhooks.egress_policy)  # built while the variable is set, as at a worker's start
    request = urllib.request.Request(receiver.url, data=b"{}", method="POST", headers={"X-Motcua-Event-Id": "e1"})
    with opener.open(request, timeout=2.0) as answer:
        assert answer.status == 200
    assert len(receiver.received) == 1
