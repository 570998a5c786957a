"""Separate hosts on one machine: Linux network namespaces joined by a bridge.

Each host is a network namespace (`ip netns`) with one veth interface on 10.77.X.0/24 and its
own host name (a UTS namespace, so log lines and presence tokens say which host wrote them).
The bridge lives in a namespace of its own too, so nothing is added to the machine's own
network: every address used here exists only inside these namespaces.

`Network` is a context manager: on exit, however the test ended, it stops every process it
started (TERM, then KILL to the process group) and deletes every namespace it made. Names
carry the test process's pid, and namespaces left by a run that was killed outright (its pid
gone) are removed at the next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "blogmh"
CLONE_NEWNET = 0x40000000


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


def remove_stale_namespaces() -> None:
    """Delete namespaces of earlier runs whose test process is gone."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match and not Path(f"/proc/{match[1]}").exists():
            run("ip", "netns", "pids", name, check=False)
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            run("ip", "netns", "del", name, check=False)


@dataclass
class Host:
    name: str
    address: str
    netns: str
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(
        self, label: str, argv: Sequence[str], env: dict[str, str], log: Path, cwd: Path
    ) -> subprocess.Popen[bytes]:
        """Run argv on this host (its network, its host name), in a process group of its own."""
        command = [
            *("ip", "netns", "exec", self.netns, "unshare", "--uts", "sh", "-c"),
            f'hostname {self.name} && exec "$@"',
            "sh",
            *argv,
        ]
        out = log.open("ab")
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.processes.append((label, process))
        return process

    def run(
        self, argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run argv on this host to completion."""
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, label: str, sig: int = signal.SIGTERM, wait: float = 15) -> None:
        for name, process in self.processes:
            if name == label and process.poll() is None:
                stop_group(process, sig, wait)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Make this thread's new sockets belong to this host's network (setns(2)); the
        sockets opened meanwhile keep working after the thread leaves."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {self.netns} failed")
            try:
                yield
            finally:
                if libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back failed")
        finally:
            os.close(target)
            os.close(own)


def stop_group(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 15
) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class Network:
    """A bridge and the hosts on it; everything goes away on exit."""

    def __init__(self, subnet: str = "10.77.0") -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.subnet = subnet
        self.switch = f"{self.tag}-sw"
        self.hosts: dict[str, Host] = {}
        self.made: list[str] = []

    def __enter__(self) -> Network:
        remove_stale_namespaces()
        self._netns(self.switch)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        return self

    def _netns(self, name: str) -> None:
        run("ip", "netns", "add", name)
        self.made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def add(self, name: str, last_octet: int) -> Host:
        netns = f"{self.tag}-{name}"
        self._netns(netns)
        address = f"{self.subnet}.{last_octet}"
        port = f"p{last_octet}"  # the bridge side of the pair, in the switch namespace
        run(
            "ip",
            "-n",
            self.switch,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            netns,
        )
        run("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
        run("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        run("ip", "-n", netns, "link", "set", "eth0", "up")
        host = Host(name, address, netns)
        self.hosts[name] = host
        return host

    def host_of(self, address: str) -> str:
        """The host name behind an address (nginx's $upstream_addr may list several)."""
        names = [
            h.name
            for h in self.hosts.values()
            for a in re.findall(r"[\d.]+(?=:)", address)
            if a == h.address
        ]
        return ",".join(names) or address

    def __exit__(self, *exc: object) -> None:
        for host in reversed(list(self.hosts.values())):
            for _label, process in reversed(host.processes):
                if process.poll() is None:
                    stop_group(process, signal.SIGTERM, wait=10)
        for name in reversed(self.made):
            # Anything still inside (a child that left its group) goes with the namespace.
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 5
            while run("ip", "netns", "pids", name, check=False).stdout.strip():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            run("ip", "netns", "del", name, check=False)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll until predicate() is truthy; its value, or AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - a server still starting refuses or resets
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")
