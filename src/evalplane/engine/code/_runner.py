"""The child process for custom code evaluators. Standard library only.

bubblewrap starts it (see ``isolation.py``) as ``python -I -S -B _runner.py MEMORY_MB
CPU_SECONDS UID`` in fresh namespaces with a read-only view of the interpreter and nothing
else. Before any user code runs it sets resource limits, becomes its own unprivileged uid
(when bwrap ran as root), and installs the server's seccomp filter; after that nothing in
this process runs with more rights than the user code has. It speaks JSON lines on a
private copy of its stdout (fds 1 and 2 go to /dev/null, so stray output is harmless):

    parent -> {"imports": str, "code": str, "params": {...}, "seccomp": hex}   once
    child  -> {"ready": true} | {"error": str}
    parent -> {"n": int, "variables": {...}}                                    per item
    child  -> {"n": int, "result": {...}} | {"n": int, "error": str}

Item replies echo ``n`` (random per item) so that a line the user code forges on the
reply channel does not pass for an answer.
"""

import builtins
import ctypes
import io
import json
import os
import resource
import signal
import sys
import traceback

_PR_SET_NO_NEW_PRIVS, _PR_GET_SECCOMP, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 21, 22, 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _limit(memory_mb, cpu_seconds):
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def _stop_at_cpu_limit(fd, current, cpu_seconds):
    """At the soft CPU limit, answer the item in progress and exit; ``fatal`` tells the parent
    to start a fresh child. (The hard limit, a second later, kills a child that ignores this.)"""

    def handler(signum, frame):
        reason = f"the evaluator exceeded its CPU limit ({cpu_seconds} s)"
        os.write(fd, (json.dumps({"n": current[0], "error": reason, "fatal": True}) + "\n").encode())
        os._exit(0)

    signal.signal(signal.SIGXCPU, handler)


def _become(uid):
    """Switch to this execution's own uid; losing root drops every capability bwrap left."""
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _confine(program):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")
    if libc.prctl(_PR_GET_SECCOMP, 0, None, 0, 0) != _SECCOMP_MODE_FILTER:
        raise OSError("the seccomp filter is not in force")


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
    """A one-line reason; user code (a custom __str__) may run here, confined like the rest."""
    try:
        if isinstance(exc, SyntaxError):
            part = "imports" if exc.filename == "<imports>" else "code"
            return f"SyntaxError in the {part}: {exc.msg} (line {exc.lineno})"
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in ("<evaluator>", "<imports>")]
        last = frames[-1] if frames else None
        where = f" (line {last.lineno}{' of the imports' if last.filename == '<imports>' else ''})" if last else ""
        return f"{type(exc).__name__}: {str(exc)[:2000]}{where}"
    except BaseException:  # noqa: BLE001 - a broken __str__ still yields a reason
        return "the evaluator raised an exception that cannot be described"


def _answer(n, evaluate):
    """One JSON reply line for one call, whatever the user code does."""
    try:
        return json.dumps({"n": n, "result": _result(evaluate())})
    except MemoryError:
        return json.dumps({"n": n, "error": "MemoryError: the evaluator exceeded its memory limit"})
    except BaseException as exc:  # noqa: BLE001 - any failure is reported to the user
        return json.dumps({"n": n, "error": _describe(exc)})


def main():
    protocol_in = sys.stdin
    protocol_out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    memory_mb, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
    uid = None if sys.argv[3] == "-" else int(sys.argv[3])
    setup = json.loads(protocol_in.readline())

    def send(line):
        protocol_out.write(line + "\n")
        protocol_out.flush()

    try:
        _install_shims()
        _limit(memory_mb, cpu_seconds)
        _become(uid)
        os.environ.clear()
        _confine(bytes.fromhex(setup["seccomp"]))
    except BaseException as exc:  # noqa: BLE001 - refuse to run anything unconfined
        send(json.dumps({"error": f"the sandbox could not be set up: {exc}", "sandbox": False}))
        return
    del setup["seccomp"]
    current = [0]  # the tag of the item in progress
    _stop_at_cpu_limit(protocol_out.fileno(), current, cpu_seconds)

    namespace = {
        "__name__": "evaluator",
        "__builtins__": builtins,
        "EvaluationResult": EvaluationResult,
        "CodeEvaluator": CodeEvaluator,
    }
    sys.stdout = sys.stderr = io.StringIO()
    try:
        if setup.get("imports"):
            exec(compile(setup["imports"], "<imports>", "exec"), namespace)
        exec(compile(setup["code"], "<evaluator>", "exec"), namespace)
        classes = [
            v
            for v in namespace.values()
            if isinstance(v, type) and issubclass(v, CodeEvaluator) and v is not CodeEvaluator
        ]
        if not classes:
            raise TypeError("the code defines no subclass of CodeEvaluator")
        instance = classes[-1]()
    except BaseException as exc:  # noqa: BLE001 - any failure is reported to the user
        send(json.dumps({"error": "the evaluator could not be loaded: " + _describe(exc)}))
        return
    send(json.dumps({"ready": True}))
    params = setup.get("params") or {}
    for line in protocol_in:
        item = json.loads(line)
        current[0] = item["n"]
        sys.stdout = sys.stderr = io.StringIO()
        variables = item["variables"]
        send(_answer(item["n"], lambda variables=variables: instance.evaluate(**variables, **params)))


if __name__ == "__main__":
    main()
