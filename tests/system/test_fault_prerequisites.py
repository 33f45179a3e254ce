"""What the fault tests need: skipped with the reason where it is missing,
a failure under REQUIRE_SERVICES=1 (CI), where a skip would hide a gap."""

from __future__ import annotations

import pytest

from tests.support import netns
from tests.system.conftest import need


def test_nothing_missing_runs_the_test(monkeypatch):
    monkeypatch.setenv("REQUIRE_SERVICES", "1")
    need(None)  # neither skips nor fails


def test_a_missing_tool_skips_with_its_reason(monkeypatch):
    monkeypatch.delenv("REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs libfaketime"):
        need("needs libfaketime")


def test_a_missing_tool_fails_in_ci(monkeypatch):
    monkeypatch.setenv("REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"needs libfaketime.*CI must run"):
        need("needs libfaketime")


def test_a_namespace_needs_root(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert netns.missing() == (
        "needs root to create a network namespace and a veth pair"
    )


def test_a_namespace_needs_ip_and_tc(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda tool: None)
    assert netns.missing() == "needs ip and tc (Debian package iproute2)"
