"""Test "hosts" on one machine: a network namespace each, a veth link to the root namespace, own hostname.

    hosts = [NetnsHost(i, f"host{i}").create() for i in (1, 2, 3)]
    service_ip = hosts[0].gateway        # bind PostgreSQL / stand-ins here: every host routes to it
    subprocess.Popen(hosts[1].wrap([sys.executable, "-m", "vodtender", "downloader"]))
    ...
    for h in hosts: h.destroy()

Each host gets 10.231.<n>.2/30 with the root side 10.231.<n>.1 and a route to 10.231.0.0/16
through it, so a host reaches the root-side address of any other link: one address can serve
all hosts.  `wrap()` runs a command inside the namespace with its own UTS namespace and
hostname, so `socket.gethostname()` (lease owners, `download_host`) differs per host.
Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); `available()` says whether this machine allows it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

SUBNET = "10.231.0.0/16"


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


def available() -> str | None:
    """None if network namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip") or not shutil.which("unshare"):
        return "iproute2 and util-linux (ip, unshare) are needed"
    return None


class NetnsHost:
    def __init__(self, index: int, hostname: str):
        if not 1 <= index <= 250:
            raise ValueError("index must be 1..250")
        tag = f"{os.getpid() % 100000}"
        self.hostname = hostname
        self.netns = f"vt{tag}h{index}"
        self.veth_root, self.veth_host = f"vt{tag}r{index}", f"vt{tag}n{index}"  # at most 15 characters
        self.gateway = f"10.231.{index}.1"  # the root namespace's side
        self.address = f"10.231.{index}.2"  # this host's address

    def create(self) -> NetnsHost:
        _ip("netns", "add", self.netns)
        try:
            _ip("link", "add", self.veth_root, "type", "veth", "peer", "name", self.veth_host)
            _ip("link", "set", self.veth_host, "netns", self.netns)
            _ip("addr", "add", f"{self.gateway}/30", "dev", self.veth_root)
            _ip("link", "set", self.veth_root, "up")
            _ip("addr", "add", f"{self.address}/30", "dev", self.veth_host, netns=self.netns)
            _ip("link", "set", self.veth_host, "up", netns=self.netns)
            _ip("link", "set", "lo", "up", netns=self.netns)
            _ip("route", "add", SUBNET, "via", self.gateway, netns=self.netns)
        except subprocess.CalledProcessError:
            self.destroy()
            raise
        return self

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host: its network namespace, its own hostname."""
        return [
            "ip",
            "netns",
            "exec",
            self.netns,
            "unshare",
            "--uts",
            "--",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.hostname,
            *argv,
        ]

    def destroy(self) -> None:
        subprocess.run(["ip", "link", "del", self.veth_root], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
