"""PLACEHOLDER — replaced at merge by the real filter language (parse → AST → SQL / predicate).

Only the tasks branch's call site is kept honest here: ``check_filter`` rejects text whose
quotes or parentheses are unbalanced. The real module, built on another branch, keeps
this signature and reports parse errors with their position.
"""

from __future__ import annotations

from evalplane.core.errors import InvalidInput


def check_filter(text: str | None, *, field: str = "query_filter") -> None:
    """Raise :class:`InvalidInput` if ``text`` cannot be a valid filter; ``None`` is fine."""
    if text is None:
        return
    depth = 0
    in_string = False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "'":
                # A doubled quote inside a string is an escaped quote.
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 2
                    continue
                in_string = False
        elif ch == "'":
            in_string = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InvalidInput(f"'{field}' has an unmatched ')' at position {i + 1}.", field=field)
        i += 1
    if in_string:
        raise InvalidInput(f"'{field}' has an unterminated string literal.", field=field)
    if depth:
        raise InvalidInput(f"'{field}' has an unclosed '('.", field=field)
