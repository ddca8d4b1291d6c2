"""The operating-system boundary around custom code: a bubblewrap command line, and the
identity each child runs under.

As root, bwrap runs privileged (no user namespace) and the runner switches to a host
uid/gid of its own, leased from a range so that no two live children share one (they
cannot signal, trace or read each other's /proc). As an ordinary user, bwrap's user
namespace gives the child uid 65534 inside, and its PID namespace hides everything else.
In both cases the child sees only the interpreter, the system libraries and the runner.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).with_name("_runner.py")
# Where the sandbox sees the base interpreter's prefix and the runner script.
PYTHON_AT = "/opt/python"
RUNNER_AT = "/opt/runner.py"
# Leases are flock()ed files here, so separate worker processes on one host agree.
LEASES = Path("/run/evalplane-sandbox")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the child becomes: a host uid/gid (root server) or None (user namespace)."""

    uid: int | None


def base_interpreter() -> tuple[Path, Path]:
    """The real interpreter (not the venv's symlink) and its prefix, both resolved."""
    prefix = Path(os.path.realpath(sys.base_prefix))
    executable = Path(os.path.realpath(sys.executable))
    if not executable.is_relative_to(prefix):
        executable = prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return executable, prefix


def command(identity: Identity, memory_mb: int, cpu_seconds: int) -> list[str]:
    """The full argv that starts one sandboxed runner."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise FileNotFoundError("bwrap is not installed (apt-get install bubblewrap)")
    executable, prefix = base_interpreter()
    inside = f"{PYTHON_AT}/{executable.relative_to(prefix)}"
    if identity.uid is None:
        who = ["--unshare-all", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    else:
        who = [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]
    view = [
        "--ro-bind",
        "/usr",
        "/usr",
        *_lib_links(),
        # Privileged bwrap creates implied parents 0700; the dropped uid must traverse /opt.
        "--perms",
        "0755",
        "--dir",
        "/opt",
        "--ro-bind",
        str(prefix),
        PYTHON_AT,
        "--ro-bind",
        str(RUNNER),
        RUNNER_AT,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--chdir",
        "/",
    ]
    uid = "-" if identity.uid is None else str(identity.uid)
    return [
        bwrap,
        *who,
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "LANG",
        "C.UTF-8",
        *view,
        inside,
        "-I",
        "-S",
        "-B",
        RUNNER_AT,
        str(memory_mb),
        str(cpu_seconds),
        uid,
    ]


def _lib_links() -> list[str]:
    """/lib, /lib64, /bin as the host has them (symlinks into /usr on merged-usr systems)."""
    args: list[str] = []
    for name in ("lib", "lib32", "lib64", "libx32", "bin"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


class Identities:
    """Leases host uids from [base, base + count) to live children (root servers only)."""

    def __init__(self, base: int, count: int) -> None:
        self.base, self.count = base, count
        self._next = 0
        self._held: dict[int, int] = {}  # uid -> open lock file descriptor

    @contextlib.contextmanager
    def lease(self) -> Iterator[Identity]:
        if os.geteuid() != 0:
            yield Identity(uid=None)
            return
        uid = self._acquire()
        try:
            yield Identity(uid=uid)
        finally:
            os.close(self._held.pop(uid))

    def _acquire(self) -> int:
        LEASES.mkdir(mode=0o700, exist_ok=True)
        for _ in range(self.count):
            uid = self.base + self._next
            self._next = (self._next + 1) % self.count
            if uid in self._held:
                continue
            fd = os.open(LEASES / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._held[uid] = fd
            return uid
        raise RuntimeError(f"all {self.count} sandbox uids from {self.base} are in use")
