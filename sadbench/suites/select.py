"""``sadbench run SUITE -k EXPR``: the cases whose id, label or parameters match, in pytest's ``-k`` grammar.

::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | word

``not`` binds tighter than ``and``, which binds tighter than ``or``. A word is any run of characters other
than blanks and parentheses; it matches a case when it is a substring (ignoring case) of the case's id, of
its label, or of one of its parameters written ``dotted.key=value`` (``network.activation=gelu``,
``integrator.rtol=1e-10``, ``network.widths=[1,8,1]``). So ``-k gelu`` picks every GELU case, and
``-k "activation=tanh and not rtol=1e-10"`` what it says.
"""

import json
import re
from dataclasses import replace

from sadbench.errors import SadbenchError

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
_KEYWORDS = ("and", "or", "not")


class SelectionError(SadbenchError):
    """A ``-k`` expression that does not parse; the message names the column."""


def _tokens(expression):
    """(kind, text, column) triples: kind is "(", ")", a keyword, or "word"; then ("end", "", column)."""
    position, out = 0, []
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:  # only trailing blanks are left
            break
        column = match.start(match.lastindex) + 1
        text = match.group(match.lastindex)
        kind = text if text in ("(", ")") or text in _KEYWORDS else "word"
        out.append((kind, text, column))
        position = match.end()
    out.append(("end", "", len(expression) + 1))
    return out


class _Parser:
    """Recursive descent into nested tuples: ("or", a, b), ("and", a, b), ("not", a), ("word", text)."""

    def __init__(self, expression):
        self.expression = expression
        self.tokens = _tokens(expression)
        self.at = 0

    def peek(self):
        return self.tokens[self.at]

    def take(self, kind):
        token = self.peek()
        if token[0] != kind:
            want = {"word": "a word, 'not' or '('", ")": "')'", "end": "the end of the expression"}[kind]
            got = "the end" if token[0] == "end" else repr(token[1])
            raise SelectionError(f"-k {self.expression!r}: expected {want} at column {token[2]}, got {got}")
        self.at += 1
        return token

    def parse(self):
        if self.peek()[0] == "end":
            return ("all",)
        tree = self.expr()
        self.take("end")
        return tree

    def expr(self):
        tree = self.and_expr()
        while self.peek()[0] == "or":
            self.at += 1
            tree = ("or", tree, self.and_expr())
        return tree

    def and_expr(self):
        tree = self.not_expr()
        while self.peek()[0] == "and":
            self.at += 1
            tree = ("and", tree, self.not_expr())
        return tree

    def not_expr(self):
        kind = self.peek()[0]
        if kind == "not":
            self.at += 1
            return ("not", self.not_expr())
        if kind == "(":
            self.at += 1
            tree = self.expr()
            self.take(")")
            return tree
        return ("word", self.take("word")[1].lower())


def _evaluate(tree, names):
    kind = tree[0]
    if kind == "all":
        return True
    if kind == "word":
        return any(tree[1] in name for name in names)
    if kind == "not":
        return not _evaluate(tree[1], names)
    left = _evaluate(tree[1], names)
    if kind == "and":
        return left and _evaluate(tree[2], names)
    return left or _evaluate(tree[2], names)


def _leaves(params, prefix=""):
    for key, value in params.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            yield f"{prefix}{key}={text}"


def names(case_id, case):
    """What a word may match: the case's store id and suite id, its label and every ``dotted.key=value``, in
    lower case."""
    return [case_id.lower(), case.case_id.lower(), case.label.lower(), *(leaf.lower() for leaf in _leaves(case.params))]


def compile_expression(expression):
    """A predicate ``match(case_id, case)`` for ``expression``; raises :class:`SelectionError` if it does
    not parse."""
    tree = _Parser(expression).parse()
    return lambda case_id, case: _evaluate(tree, names(case_id, case))


def select_cases(suite, expression, case_ids):
    """``suite`` with only the cases that ``expression`` matches (``case_ids`` are their store ids, in
    order); raises SelectionError when none does."""
    match = compile_expression(expression)
    kept = [case for case, case_id in zip(suite.cases, case_ids) if match(case_id, case)]
    if not kept:
        raise SelectionError(f"-k {expression!r} selects none of the {len(suite.cases)} cases of {suite.name}; "
                             "`sadbench list SUITE` shows their ids, labels and parameters")
    return replace(suite, cases=kept)
