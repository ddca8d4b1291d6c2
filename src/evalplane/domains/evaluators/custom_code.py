"""Static checks on custom code evaluators, done when a version is saved (nothing is executed)."""

from __future__ import annotations

import ast

from evalplane.core.errors import InvalidInput

MAX_CODE_CHARS = 200_000
BASE_CLASS = "CodeEvaluator"


def _parse(source: str, field: str) -> ast.Module:
    try:
        return ast.parse(source, filename=f"<{field}>", mode="exec")
    except SyntaxError as exc:
        where = f" (line {exc.lineno}, column {exc.offset})" if exc.lineno else ""
        raise InvalidInput(f"'{field}' is not valid Python: {exc.msg}{where}.", field=field) from None
    except (ValueError, RecursionError, MemoryError):
        raise InvalidInput(f"'{field}' is not valid Python source.", field=field) from None


def _subclasses_base(node: ast.ClassDef) -> bool:
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id == BASE_CLASS:
            return True
        if isinstance(base, ast.Attribute) and base.attr == BASE_CLASS:
            return True
    return False


def _has_evaluate(node: ast.ClassDef) -> bool:
    return any(
        isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "evaluate" for item in node.body
    )


def inspect(code: object, imports: object = None) -> str:
    """Return the name of the evaluator class, or raise InvalidInput saying what is wrong."""
    if not isinstance(code, str) or not code.strip():
        raise InvalidInput("'code_config.code' must be non-empty Python source.", field="code")
    if len(code) > MAX_CODE_CHARS:
        raise InvalidInput(f"'code_config.code' exceeds {MAX_CODE_CHARS} characters.", field="code")
    if imports is not None:
        if not isinstance(imports, str) or len(imports) > MAX_CODE_CHARS:
            raise InvalidInput("'code_config.imports' must be Python source.", field="imports")
        _parse(imports, "code_config.imports")
    tree = _parse(code, "code_config.code")
    candidates = [n for n in tree.body if isinstance(n, ast.ClassDef) and _subclasses_base(n)]
    if not candidates:
        raise InvalidInput(
            f"'code_config.code' must define a top-level class that subclasses {BASE_CLASS}, "
            f"e.g. 'class MyEval({BASE_CLASS}):' with an 'evaluate' method.",
            field="code",
        )
    runnable = [n for n in candidates if _has_evaluate(n)]
    if not runnable:
        names = ", ".join(n.name for n in candidates)
        raise InvalidInput(f"Class {names} subclasses {BASE_CLASS} but defines no 'evaluate' method.", field="code")
    if len(runnable) > 1:
        names = ", ".join(n.name for n in runnable)
        raise InvalidInput(
            f"'code_config.code' defines several {BASE_CLASS} classes with 'evaluate' ({names}); keep exactly one.",
            field="code",
        )
    return runnable[0].name
