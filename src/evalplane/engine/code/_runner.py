"""The sandboxed child process for custom code evaluators. Standard library only.

Started as ``python -I -S _runner.py`` with an empty environment. Before any user code
runs it drops privileges and locks itself down: resource limits, a private network
namespace where the kernel allows it, a non-root user when started as root, and an audit
hook that refuses sockets, subprocesses, native code loading and every file open outside
the standard library. Then it speaks JSON lines on its original stdout:

    parent -> {"imports": str, "code": str, "params": {...}}         once
    child  -> {"ready": true} | {"error": str}
    parent -> {"variables": {...}}                                    per item
    child  -> {"result": {...}} | {"error": str}
"""

import builtins
import io
import json
import os
import resource
import sys
import sysconfig
import traceback

_STDLIB = tuple(
    os.path.realpath(p) + os.sep
    for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
)
_BLOCKED_EVENTS = (
    "socket.",
    "subprocess.",
    "_thread.start_new_thread",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.putenv",
    "os.unsetenv",
    "os.chdir",
    "os.chmod",
    "os.chown",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.symlink",
    "os.link",
    "os.truncate",
    "os.listdir",
    "os.scandir",
    "glob.glob",
    "shutil.",
    "ctypes.",
    "mmap.",
    "gc.",
    # Frame and function internals are how code would reach the hook's own state.
    "object.__getattr__",
    "object.__setattr__",
    "object.__delattr__",
    "sys._getframe",
    "sys._current_frames",
    "sys.setprofile",
    "sys.settrace",
    "sys.addaudithook",
    "webbrowser.",
    "urllib.Request",
    "http.client.",
    "ftplib.",
    "smtplib.",
    "pty.",
    "resource.setrlimit",
    "fcntl.",
)
_BLOCKED_MODULES = frozenset({"ctypes", "_ctypes", "subprocess", "multiprocessing", "_posixsubprocess", "pty", "signal"})


def _make_audit_hook(trusted):
    """The hook keeps its state in this closure, which sandboxed code cannot reach: frames,
    gc and function internals are themselves refused below."""
    stdlib, blocked, modules = _STDLIB, _BLOCKED_EVENTS, _BLOCKED_MODULES
    realpath, fsdecode = os.path.realpath, os.fsdecode

    def audit(event, args):
        if trusted[0]:
            return
        if event == "open":
            path, mode = args[0], args[1] if len(args) > 1 else "r"
            if isinstance(path, int):
                raise PermissionError("the sandbox does not allow opening file descriptors")
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            shown = fsdecode(path) if path is not None else ""
            if writing or not realpath(shown).startswith(stdlib):
                raise PermissionError(f"the sandbox does not allow opening {shown!r}")
            return
        if event == "import":
            if args and args[0] in modules:
                raise ImportError(f"the sandbox does not allow importing {args[0]!r}")
            return
        if event.startswith(blocked):
            raise PermissionError(f"the sandbox does not allow {event}")

    return audit


def _isolate_network():
    """A new, empty network namespace: even loopback is down. Best effort."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    if libc.unshare(clone_newnet) == 0:
        return True
    return libc.unshare(clone_newuser | clone_newnet) == 0


def _limit(memory_mb, cpu_seconds):
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def _drop_root():
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


class EvaluationResult:
    """The result type custom evaluators return (same fields as the arize SDK's)."""

    def __init__(self, score=None, label=None, explanation=None, metadata=None):
        if score is None and not label:
            raise ValueError("Must specify score or label, or both")
        self.score, self.label, self.explanation, self.metadata = score, label, explanation, metadata or {}


class CodeEvaluator:
    """Base class for custom evaluators: subclass it and implement ``evaluate``."""

    name = None

    def evaluate(self, **kwargs):
        raise NotImplementedError("implement evaluate(self, *, output=None, **kwargs)")


def _install_shims():
    """Let evaluators written against the arize SDK import its base classes unchanged."""
    import types

    for name in (
        "arize",
        "arize.experiments",
        "arize.experiments.evaluators",
        "arize.experiments.evaluators.base",
        "arize.experiments.evaluators.types",
        "arize.experimental",
        "arize.experimental.datasets",
        "arize.experimental.datasets.experiments",
        "arize.experimental.datasets.experiments.evaluators",
        "arize.experimental.datasets.experiments.evaluators.base",
        "arize.experimental.datasets.experiments.types",
        "evalplane",
        "evalplane.evaluators",
    ):
        module = types.ModuleType(name)
        module.EvaluationResult = EvaluationResult
        module.CodeEvaluator = CodeEvaluator
        module.__path__ = []
        sys.modules[name] = module


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _result(value):
    if isinstance(value, EvaluationResult) or (hasattr(value, "score") and hasattr(value, "label")):
        return {
            "kind": "mapping",
            "score": _plain(getattr(value, "score", None)),
            "label": _plain(getattr(value, "label", None)),
            "explanation": _plain(getattr(value, "explanation", None)),
            "metadata": _plain(getattr(value, "metadata", None) or {}),
        }
    if isinstance(value, tuple):
        return {"kind": "tuple", "value": _plain(list(value))}
    return {"kind": "plain", "value": _plain(value)}


def _describe(exc):
    if isinstance(exc, SyntaxError):
        part = "imports" if exc.filename == "<imports>" else "code"
        return f"SyntaxError in the {part}: {exc.msg} (line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in ("<evaluator>", "<imports>")]
    where = f" (line {frames[-1].lineno}{' of the imports' if frames and frames[-1].filename == '<imports>' else ''})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


# Modules evaluators may import. They are loaded before privileges are dropped, because the
# unprivileged child may not be able to read the interpreter's own library directory.
PRELOADED = (
    "re", "json", "math", "cmath", "statistics", "datetime", "time", "collections", "collections.abc",
    "itertools", "functools", "operator", "string", "difflib", "unicodedata", "decimal", "fractions",
    "random", "typing", "dataclasses", "enum", "textwrap", "html", "html.parser", "urllib.parse",
    "base64", "hashlib", "hmac", "uuid", "copy", "pprint", "bisect", "heapq", "ast", "csv", "io",
    "zlib", "binascii", "struct", "array", "numbers", "locale", "calendar", "ipaddress", "email.utils",
)


def _preload():
    import importlib

    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def main():
    protocol_in = sys.stdin
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    memory_mb, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
    sys.dont_write_bytecode = True
    _preload()
    _install_shims()
    network_isolated = _isolate_network()
    for name in ("ctypes", "_ctypes"):
        sys.modules.pop(name, None)
    _limit(memory_mb, cpu_seconds)
    _drop_root()
    os.environ.clear()
    setup = json.loads(protocol_in.readline())
    trusted = [False]
    sys.addaudithook(_make_audit_hook(trusted))

    def send(message):
        protocol_out.write(json.dumps(message) + "\n")
        protocol_out.flush()

    def describe(exc):
        trusted[0] = True
        try:
            return _describe(exc)
        finally:
            trusted[0] = False

    namespace = {"__name__": "evaluator", "__builtins__": builtins, "EvaluationResult": EvaluationResult, "CodeEvaluator": CodeEvaluator}
    sys.stdout = io.StringIO()
    try:
        if setup.get("imports"):
            exec(compile(setup["imports"], "<imports>", "exec"), namespace)
        exec(compile(setup["code"], "<evaluator>", "exec"), namespace)
        classes = [
            v for v in namespace.values()
            if isinstance(v, type) and issubclass(v, CodeEvaluator) and v is not CodeEvaluator
        ]
        if not classes:
            raise TypeError("the code defines no subclass of CodeEvaluator")
        instance = classes[-1]()
    except BaseException as exc:  # noqa: BLE001 - any failure is reported to the user
        send({"error": "the evaluator could not be loaded: " + describe(exc)})
        return
    send({"ready": True, "network_isolated": network_isolated})
    params = setup.get("params") or {}
    for line in protocol_in:
        item = json.loads(line)
        sys.stdout = io.StringIO()
        try:
            value = instance.evaluate(**item["variables"], **params)
            message = {"result": _result(value)}
        except MemoryError:
            message = {"error": "MemoryError: the evaluator exceeded its memory limit"}
        except BaseException as exc:  # noqa: BLE001
            message = {"error": describe(exc)}
        send(message)


if __name__ == "__main__":
    main()
