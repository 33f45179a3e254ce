"""A network namespace joined to the host by a veth pair, to partition a child.

A child started through :meth:`Namespace.command` reaches the host only over
the veth pair (``10.200.N.1`` on the host end, ``10.200.N.2`` inside, both
private and made by this test on this machine alone). :meth:`Namespace.cut`
puts a queueing discipline that drops every packet on both ends, so the
child's connections go silent (no reset, no error: a partition, not a
refused connection); :meth:`Namespace.heal` takes it away.

The drop is ``netem loss 100%`` with a delay when the kernel has netem;
kernels without it (the Firecracker VMs CI runs on have no sch_netem) get
the ``blackhole`` qdisc, which drops every packet just the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess

NETEM = ("netem", "loss", "100%", "delay", "200ms")
BLACKHOLE = ("blackhole",)


def missing() -> str | None:
    """Why this machine can not make a namespace, or None."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace and a veth pair"
    absent = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if absent:
        return f"needs {' and '.join(absent)} (Debian package iproute2)"
    return None


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result


class Namespace:
    """``at-fault-<pid>`` and its veth pair; :meth:`destroy` removes both."""

    def __init__(self) -> None:
        pid = os.getpid()
        # Names unique per test process (interface names: 15 characters).
        self.name = f"at-fault-{pid}"
        self.host_end = f"atf{pid}h"
        self.inner_end = f"atf{pid}n"
        subnet = 10 + pid % 240
        self.host_address = f"10.200.{subnet}.1"
        self.inner_address = f"10.200.{subnet}.2"
        self.drop: tuple[str, ...] | None = None

    def create(self) -> None:
        _run("ip", "netns", "add", self.name)
        _run(
            "ip",
            "link",
            "add",
            self.host_end,
            "type",
            "veth",
            "peer",
            "name",
            self.inner_end,
        )
        _run("ip", "link", "set", self.inner_end, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_end)
        _run("ip", "link", "set", self.host_end, "up")
        inside = ("ip", "netns", "exec", self.name)
        _run(
            *inside,
            "ip",
            "addr",
            "add",
            f"{self.inner_address}/30",
            "dev",
            self.inner_end,
        )
        _run(*inside, "ip", "link", "set", self.inner_end, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")

    def command(self, *args: str) -> list[str]:
        """``args`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def _qdisc(self, action: str, *spec: str) -> list[subprocess.CompletedProcess[str]]:
        return [
            subprocess.run(
                [*prefix, "tc", "qdisc", action, "dev", device, "root", *spec],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            for prefix, device in (
                ((), self.host_end),
                (("ip", "netns", "exec", self.name), self.inner_end),
            )
        ]

    def cut(self) -> str:
        """Drop every packet both ways; the qdisc used (netem or blackhole)."""
        for drop in (NETEM, BLACKHOLE):
            results = self._qdisc("add", *drop)
            if all(result.returncode == 0 for result in results):
                self.drop = drop
                return drop[0]
            self._qdisc("del")
        raise AssertionError(f"tc could not drop packets: {results[-1].stderr}")

    def heal(self) -> None:
        """Remove the drop: packets flow again (TCP retransmits what was lost)."""
        for result in self._qdisc("del"):
            assert result.returncode == 0, result.stderr
        self.drop = None

    def destroy(self) -> None:
        """Delete the veth pair (both ends go with it) and the namespace."""
        for args in (
            ("ip", "link", "del", self.host_end),
            ("ip", "netns", "del", self.name),
        ):
            subprocess.run(list(args), capture_output=True, timeout=30, check=False)
