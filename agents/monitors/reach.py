"""What of a method's source runs: ``run`` and everything it reaches, read with ``ast``.

A method may be 200 KB, and a reviewer that reads the first pages reads what
the author chose to put there. What runs is smaller and is what matters:
- ``run`` and the top-level functions, classes, assignments and imports it
  names, followed transitively;
- every top-level statement that does something at import (a call anywhere
  in it, a loop, a ``with``), since loading the module runs it, and what
  those name in turn.
A name looked up at run time (``globals()``, ``getattr``, ``eval``, ``exec``,
``__import__``, ``importlib``, ``sys.modules``, ``vars``) can reach anything,
so the whole file is what runs.
"""

from __future__ import annotations

import ast

DYNAMIC = frozenset({"globals", "locals", "vars", "getattr", "eval", "exec", "compile", "__import__", "importlib"})
"""Names whose use lets code reach a definition without naming it."""
DYNAMIC_ATTRIBUTES = frozenset({"modules", "import_module", "__dict__", "__getattribute__", "__globals__"})
"""The same through an attribute (``sys.modules``); ``re.compile`` is no lookup."""


def reached(source: str) -> str | None:
    """The lines of ``source`` that run (in file order), the whole source when lookups are dynamic; None if it
    does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    defined: dict[str, list[int]] = {}
    for index, node in enumerate(tree.body):
        for name in _defines(node):
            defined.setdefault(name, []).append(index)
    todo = [i for i, node in enumerate(tree.body) if "run" in _defines(node) or _runs_at_import(node)]
    kept: set[int] = set()
    while todo:
        index = todo.pop()
        if index in kept:
            continue
        kept.add(index)
        names, attributes = _names(tree.body[index])
        if names & DYNAMIC or attributes & DYNAMIC_ATTRIBUTES:
            return source
        todo += [i for name in names | attributes for i in defined.get(name, ())]
    lines = source.splitlines(keepends=True)
    parts = []
    for index in sorted(kept):
        node = tree.body[index]
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        parts.append("".join(lines[first - 1 : node.end_lineno]))
    return "\n".join(parts)


def _defines(node: ast.stmt) -> set[str]:
    match node:
        case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name) | ast.ClassDef(name=name):
            return {name}
        case ast.Import(names=aliases) | ast.ImportFrom(names=aliases):
            return {(a.asname or a.name).split(".")[0] for a in aliases}
        case ast.Assign() | ast.AnnAssign() | ast.AugAssign():
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _runs_at_import(node: ast.stmt) -> bool:
    """A statement that does something when the module loads (a definition alone does not)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return bool(node.decorator_list)
    if isinstance(node, ast.Import | ast.ImportFrom):
        return False
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return False  # a docstring
    if isinstance(node, ast.ClassDef):
        outside = [*node.decorator_list, *node.bases, *node.keywords]
        body = [s for s in node.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)]
        return any(isinstance(n, ast.Call) for part in [*outside, *body] for n in ast.walk(part))
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        return any(isinstance(n, ast.Call) for n in ast.walk(node))
    return True


def _names(node: ast.AST) -> tuple[set[str], set[str]]:
    """The names and the attribute names ``node`` uses (an attribute may name a top-level def: ``self.fit``
    reaches ``fit`` too, which errs on the side of reading more)."""
    names, attributes = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            names.add(n.id)
        elif isinstance(n, ast.Attribute):
            attributes.add(n.attr)
    return names, attributes
