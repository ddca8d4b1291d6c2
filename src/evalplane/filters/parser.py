"""Recursive-descent parser: filter text → typed syntax tree, with types checked up front.

Grammar (keywords case-insensitive; NOT binds tighter than AND, AND tighter than OR):

    filter     := or_expr END
    or_expr    := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | '(' or_expr ')' | predicate
    predicate  := column ( op value
                         | [NOT] IN '(' value (',' value)* ')'
                         | [NOT] LIKE string
                         | [NOT] CONTAINS value
                         | IS [NOT] NULL )
    value      := string | number | TRUE | FALSE
"""

from __future__ import annotations

from datetime import UTC, datetime

from evalplane.filters import ast
from evalplane.filters.errors import FilterSyntaxError
from evalplane.filters.lexer import Token, tokenize
from evalplane.filters.values import looks_like_signed_index

MAX_LENGTH = 10_000
MAX_DEPTH = 50
# Deeper than any OpenInference attribute; keeps each path's SQL (a join per list step on SQLite) small.
MAX_PATH_SEGMENTS = 32
# What a filter may cost to compile and run: a condition on a fixed column costs 1, one inside a
# JSON document (attributes, a record) 10, plus 30 per list-index step of its path, since each
# becomes SQL that reads the document several ways. Past it, a filter is refused, so no key can
# make the server build megabytes of SQL for one request.
MAX_COST = 1_000
_DOCUMENT_COST, _LIST_STEP_COST = 10, 30

_ALIASES = {"metadata": ("attributes", "metadata")}  # OpenInference keeps metadata under attributes
VALID_COLUMNS = (
    *(c for c in ast.SPAN_COLUMNS),
    "attributes.<path>",
    "metadata.<path>",
    "eval.<name>.label|score|explanation",
    "trace_eval.<name>.label|score|explanation",
    "session_eval.<name>.label|score|explanation",
    "annotation.<name>.label|score|text",
)


def parse(text: str, *, records: bool = False) -> ast.Expr:
    """Parse a filter; raises ``FilterSyntaxError`` (with ``.position``) for anything unacceptable.

    ``records``: the filter is over dataset examples or experiment runs, where every column is a
    record key (``RecordColumn``) rather than a span column.
    """
    if not isinstance(text, str):
        raise FilterSyntaxError("a filter must be a string", position=0)
    if len(text) > MAX_LENGTH:
        raise FilterSyntaxError(
            f"filter is too long ({len(text)} characters; the limit is {MAX_LENGTH})", position=MAX_LENGTH
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a JSON "\ud800" escape: not text
        raise FilterSyntaxError(
            f"the filter holds an unpaired surrogate code point at position {exc.start}", position=exc.start
        ) from None
    return _Parser(text, records).parse()


def _where(token: Token) -> str:
    return f"at position {token.pos}, found {token.describe()}"


class _Parser:
    def __init__(self, text: str, records: bool = False) -> None:
        self.text = text
        self.records = records
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.cost = 0

    # -- token helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.tok.keyword in words

    def fail(self, expected: str, after: str | None = None) -> FilterSyntaxError:
        context = f" after {after}" if after else ""
        return FilterSyntaxError(f"expected {expected}{context} {_where(self.tok)}", position=self.tok.pos)

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(
                f"filter nests too deeply (more than {MAX_DEPTH} levels of parentheses or NOT) at position {token.pos}",
                position=token.pos,
            )

    def charge(self, column: ast.Column, token: Token) -> None:
        if isinstance(column, ast.DOCUMENT_COLUMNS):
            steps = sum(1 for segment in column.path if segment.isdigit())
            self.cost += _DOCUMENT_COST + _LIST_STEP_COST * steps
        else:
            self.cost += 1
        if self.cost > MAX_COST:
            raise FilterSyntaxError(
                f"filter is too complex at position {token.pos}: conditions on attributes and list "
                f"indexes cost more than the {MAX_COST} a filter may spend (see the README's filter limits)",
                position=token.pos,
            )

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> ast.Expr:
        expr = self.or_expr()
        if self.tok.kind != "end":
            if self.tok.kind == ")":
                raise FilterSyntaxError(f"unmatched ')' at position {self.tok.pos}", position=self.tok.pos)
            raise self.fail("AND, OR or the end of the filter")
        return expr

    def or_expr(self) -> ast.Expr:
        operands = [self.and_expr()]
        while self.at_keyword("OR"):
            op = self.advance()
            operands.append(self.and_expr_after(op))
        return operands[0] if len(operands) == 1 else ast.Or(tuple(operands))

    def and_expr(self) -> ast.Expr:
        operands = [self.not_expr()]
        while self.at_keyword("AND"):
            op = self.advance()
            operands.append(self.not_expr_after(op))
        return operands[0] if len(operands) == 1 else ast.And(tuple(operands))

    def and_expr_after(self, op: Token) -> ast.Expr:
        self.expect_condition(f"'{op.text}'")
        return self.and_expr()

    def not_expr_after(self, op: Token) -> ast.Expr:
        self.expect_condition(f"'{op.text}'")
        return self.not_expr()

    def expect_condition(self, after: str) -> None:
        if self.tok.kind == "(" or (self.tok.kind == "ref" and self.tok.keyword in (None, "NOT")):
            return
        raise self.fail("a condition", after)

    def not_expr(self) -> ast.Expr:
        token = self.tok
        if token.keyword == "NOT":
            self.advance()
            self.nest(token)
            self.expect_condition(f"'{token.text}'")
            operand = self.not_expr()
            self.depth -= 1
            return ast.Not(operand)
        if token.kind == "(":
            self.advance()
            self.nest(token)
            self.expect_condition("'('")
            expr = self.or_expr()
            if self.tok.kind != ")":
                raise FilterSyntaxError(
                    f"expected ')' {_where(self.tok)} (to close the '(' at position {token.pos})",
                    position=self.tok.pos,
                )
            self.advance()
            self.depth -= 1
            return expr
        return self.predicate()

    def predicate(self) -> ast.Expr:
        column_token = self.tok
        if column_token.kind != "ref" or column_token.keyword is not None:
            raise self.fail("a column name, NOT or '('")
        self.advance()
        column = _record_column(column_token) if self.records else _column(column_token)
        self.charge(column, column_token)
        ctype = ast.column_type(column)
        name = column_token.text
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            value, value_token = self.value(f"'{tok.text}'")
            return ast.Compare(column, tok.value, self.check_value(column, ctype, tok.value, value, value_token))  # type: ignore[arg-type]
        negated = False
        if tok.keyword == "NOT":
            negated = True
            self.advance()
            if not self.at_keyword("IN", "LIKE", "CONTAINS"):
                raise self.fail("IN, LIKE or CONTAINS", f"'{name} NOT'")
        kw = self.tok.keyword
        if kw == "IN":
            return self.in_list(column, ctype, negated)
        if kw == "LIKE":
            like = self.advance()
            pattern_token = self.tok
            if pattern_token.kind != "string":
                raise self.fail("a quoted pattern", f"'{like.text}'")
            self.advance()
            if ctype not in ("text", "json"):
                raise _type_error(pattern_token, f"LIKE needs a text column; {name} holds {_kind_phrase(ctype)}")
            return ast.Like(column, pattern_token.value, negated)  # type: ignore[arg-type]
        if kw == "CONTAINS":
            contains = self.advance()
            value, value_token = self.value(f"'{contains.text}'")
            if ctype == "text" and not isinstance(value, str):
                raise _type_error(value_token, f"CONTAINS on {name} needs a quoted string")
            if ctype in ("number", "timestamp"):
                raise _type_error(
                    value_token, f"CONTAINS needs a text or attribute column; {name} holds {_kind_phrase(ctype)}"
                )
            return ast.Contains(column, value, negated)
        if kw == "IS" and not negated:
            is_token = self.advance()
            null_negated = False
            if self.at_keyword("NOT"):
                self.advance()
                null_negated = True
            if not self.at_keyword("NULL"):
                raise self.fail("NULL", f"'{is_token.text}{' NOT' if null_negated else ''}'")
            self.advance()
            return ast.IsNull(column, null_negated)
        raise self.fail("an operator (=, !=, <, <=, >, >=, IN, NOT IN, LIKE, NOT LIKE, CONTAINS, IS NULL)", f"'{name}'")

    def in_list(self, column: ast.Column, ctype: str, negated: bool) -> ast.Expr:
        in_token = self.advance()
        if self.tok.kind != "(":
            raise self.fail("'(' to start the list", f"'{in_token.text}'")
        self.advance()
        values: list[ast.Value] = []
        first_kind: str | None = None
        while True:
            value, value_token = self.value("'('" if not values else "','")
            value = self.check_value(column, ctype, "=", value, value_token)
            kind = _literal_kind(value)
            if first_kind is None:
                first_kind = kind
            elif kind != first_kind:
                raise _type_error(
                    value_token, f"an IN list must hold values of one kind; this one mixes {first_kind}s and {kind}s"
                )
            values.append(value)
            if self.tok.kind == ",":
                self.advance()
                continue
            if self.tok.kind == ")":
                self.advance()
                return ast.In(column, tuple(values), negated)
            raise self.fail("',' or ')' in the IN list")

    def value(self, after: str) -> tuple[ast.Value, Token]:
        token = self.tok
        if token.kind in ("string", "number"):
            self.advance()
            return token.value, token  # type: ignore[return-value]
        if token.keyword in ("TRUE", "FALSE"):
            self.advance()
            return token.keyword == "TRUE", token
        if token.kind == "ref" and token.text.startswith('"'):
            raise FilterSyntaxError(
                f"unexpected '\"' at position {token.pos}: strings use single quotes ('like this'); "
                'double quotes name a column or a part of one, e.g. eval."My Eval".label',
                position=token.pos,
            )
        if token.keyword == "NULL":
            raise FilterSyntaxError(
                f"NULL is not a value to compare with at position {token.pos}; use IS NULL or IS NOT NULL",
                position=token.pos,
            )
        raise self.fail("a value (a quoted string, a number, TRUE or FALSE)", after)

    def check_value(self, column: ast.Column, ctype: str, op: str, value: ast.Value, token: Token) -> ast.Value:
        """Reject literals that can never match the column's kind; parse timestamp strings."""
        if ctype == "json":
            if isinstance(value, bool) and op not in ("=", "!="):
                raise _type_error(token, f"TRUE and FALSE only compare with = or != (found '{op}')")
            return value
        if ctype == "text":
            if not isinstance(value, str):
                raise _type_error(token, f"{_column_name(column)} holds text; compare it with a quoted string")
            return value
        if ctype == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(token, f"{_column_name(column)} holds numbers; compare it with a number")
            return value
        if not isinstance(value, str):
            raise _type_error(
                token,
                f"{_column_name(column)} holds timestamps; compare it with a quoted ISO-8601 time like '2024-05-01T12:00:00Z'",
            )
        return _timestamp(value, token)


def _timestamp(value: str, token: Token) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _type_error(token, f"{token.text} is not an ISO-8601 time such as '2024-05-01T12:00:00Z'") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _literal_kind(value: ast.Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime):
        return "timestamp"
    return "string"


def _kind_phrase(ctype: str) -> str:
    return {"number": "numbers", "timestamp": "timestamps"}.get(ctype, ctype)


def _type_error(token: Token, message: str) -> FilterSyntaxError:
    return FilterSyntaxError(f"{message} (at position {token.pos})", position=token.pos)


def _column_name(column: ast.Column) -> str:
    if isinstance(column, ast.SpanColumn):
        return column.name
    if isinstance(column, ast.EvalColumn):
        return f"{column.scope}.{column.evaluator}.{column.field}"
    if isinstance(column, ast.RecordColumn):
        return column.key
    return "attributes." + ".".join(column.path)


def _record_column(token: Token) -> ast.RecordColumn:
    """A record key as written, dotted segments joined (``eval."My Eval".score`` is the key
    ``eval.My Eval.score``)."""
    segments, _ = token.path
    key = ".".join(segments)
    if '"' in key:  # SQLite's JSON paths cannot spell such a key, so SQL would never match it
        raise FilterSyntaxError(
            f"columns containing a double quote cannot be filtered on ('{token.text}' at position {token.pos})",
            position=token.pos,
        )
    return ast.RecordColumn(key)


def _column(token: Token) -> ast.Column:
    segments, quoted = token.path
    head = segments[0].lower() if not quoted[0] else segments[0]
    rest = tuple(segments[1:])
    if head == "span" and rest:  # an optional 'span.' prefix, as in span.status_code
        head, rest = rest[0].lower(), rest[1:]
    if head in _ALIASES:
        alias = _ALIASES[head]
        head, rest = alias[0], alias[1:] + rest
    if head == "attributes":
        if not rest:
            raise FilterSyntaxError(
                f"expected a path after 'attributes' at position {token.pos + len(token.text)} "
                "(e.g. attributes.llm.model_name)",
                position=token.pos + len(token.text),
            )
        if len(rest) > MAX_PATH_SEGMENTS:
            raise FilterSyntaxError(
                f"the attribute path '{token.text}' at position {token.pos} is too deep "
                f"({len(rest)} segments; the limit is {MAX_PATH_SEGMENTS})",
                position=token.pos,
            )
        for segment in rest:
            if '"' in segment:  # SQLite's JSON paths cannot spell such a key, so SQL would never match it
                raise FilterSyntaxError(
                    f"attribute keys containing a double quote cannot be filtered on ('{token.text}' at position {token.pos})",
                    position=token.pos,
                )
            if looks_like_signed_index(segment):
                raise FilterSyntaxError(
                    f"path segment {segment!r} in '{token.text}' at position {token.pos} cannot be used: "
                    "list positions are plain digits counted from 0",
                    position=token.pos,
                )
        return ast.AttributeColumn(rest)
    if head in ast.EVAL_SCOPES:
        if len(rest) != 2 or rest[1].lower() not in ast.EVAL_FIELDS:
            raise FilterSyntaxError(
                f"'{token.text}' at position {token.pos} is not an evaluation column; write "
                f"{head}.<name>.label, {head}.<name>.score or {head}.<name>.explanation "
                f'(quote names with spaces or dots: {head}."My Eval".label)',
                position=token.pos,
            )
        return ast.EvalColumn(rest[0], rest[1].lower(), head)  # type: ignore[arg-type]
    if head == ast.ANNOTATION_SCOPE:
        if len(rest) != 2 or rest[1].lower() not in ast.ANNOTATION_FIELDS:
            raise FilterSyntaxError(
                f"'{token.text}' at position {token.pos} is not an annotation column; write "
                "annotation.<name>.label, annotation.<name>.score or annotation.<name>.text "
                '(quote names with spaces or dots: annotation."My Note".label)',
                position=token.pos,
            )
        return ast.EvalColumn(rest[0], rest[1].lower(), head)  # type: ignore[arg-type]
    dotted = ".".join((head, *(s.lower() for s in rest)))
    if dotted in ast.SPAN_COLUMNS:
        return ast.SpanColumn(dotted)
    raise FilterSyntaxError(
        f"unknown column '{token.text}' at position {token.pos}; valid columns are {', '.join(VALID_COLUMNS)}",
        position=token.pos,
    )
