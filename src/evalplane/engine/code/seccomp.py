"""The system-call filter every sandbox child installs before user code runs.

Compiled once in the server with the system's libseccomp (through ctypes: no Python
dependency) and exported as a classic BPF program; ``_runner.py`` loads the bytes with
``prctl(PR_SET_SECCOMP)``. What is denied: starting programs or processes, sockets,
debugging or signalling other processes, and every kernel facility a sandbox never needs
(namespaces, mounts, modules, keyrings, BPF, io_uring, ...).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile

_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_CMP_MASKED_EQ = 7
_CLONE_THREAD = 0x00010000

# Denied with EPERM: the user sees a PermissionError.
DENIED = (
    "execve",
    "execveat",
    "fork",
    "vfork",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept",
    "accept4",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "personality",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
    "name_to_handle_at",
    "ioperm",
    "iopl",
    "kill",
    "tkill",
    "tgkill",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "kcmp",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "lookup_dcookie",
)


class SeccompUnavailable(RuntimeError):
    """The filter cannot be built on this host (no libseccomp, unknown architecture)."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@functools.cache
def filter_program() -> bytes:
    """The BPF program (bytes of ``struct sock_filter``) for this machine's architecture."""
    lib = _libseccomp()
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_void_p,
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    ctx = lib.seccomp_init(_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        for name in DENIED:
            _deny(lib, ctx, name, _ERRNO | errno.EPERM)
        # glibc falls back to clone() when clone3 says ENOSYS; clone then needs CLONE_THREAD.
        _deny(lib, ctx, "clone3", _ERRNO | errno.ENOSYS)
        not_a_thread = _ArgCmp(0, _CMP_MASKED_EQ, _CLONE_THREAD, 0)
        _deny(lib, ctx, "clone", _ERRNO | errno.EPERM, not_a_thread)
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _libseccomp() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        return ctypes.CDLL(name)
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp is not installed ({exc})") from exc


def _deny(lib: ctypes.CDLL, ctx: int, name: str, action: int, *conditions: _ArgCmp) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:
        return  # not a system call on this architecture (e.g. fork on arm64)
    array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
    status = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), array)
    if status != 0:
        raise SeccompUnavailable(f"cannot add the rule for {name}: {os.strerror(-status)}")


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    with tempfile.TemporaryFile() as out:
        status = lib.seccomp_export_bpf(ctx, out.fileno())
        if status != 0:
            raise SeccompUnavailable(f"cannot export the filter: {os.strerror(-status)}")
        out.seek(0)
        return out.read()
