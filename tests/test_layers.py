"""The flow through dronectl is one way (docs/design.md): no import circle, and no module imports a layer above its own.

The import graph is read from the source with ``ast``, so that it holds every import a module can run: module-level
ones, the ones inside functions (imported late to keep a command fast, they still tie the modules together), and the
dynamic ones (``importlib.import_module`` of a module named in the source). Imports under ``if TYPE_CHECKING:`` never
run and are left out. ``from dronectl.pkg import name`` points at the module that defines ``name`` when the package's
``__init__`` only re-exports it (``from .mod import name``, or the lazy ``_EXPORTS`` table of ``dronectl.archive``);
importing ``a.b.c`` is not counted as importing ``a.b``'s ``__init__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dronectl

PACKAGE = Path(dronectl.__file__).resolve().parent

# The layers, lowest first: a module may import its own part (module or package) and any part of a lower layer,
# never a higher layer nor another part of its own layer. The functional core (pure functions over values) is
# the first five; dronectl.api composes the workflows; the shell does I/O and talks to users.
LAYERS: list[tuple[str, ...]] = [
    ("dronectl", "errors"),     # the package's version; our exceptions and exit codes
    ("limits",),                # value ranges
    ("plandata",),              # the plan's own data (pattern, zone, camera, limits, photo points)
    ("mission",),               # the Mission model (plain data)
    ("geo",),                   # CRS, projections, zone and airspace files
    ("camera", "timing"),       # camera formulas and database; flight-time estimates
    ("checks",),                # preflight rules over a Mission
    ("survey", "formats"),      # coverage planning; Mission files (.plan, .waypoints, GeoJSON, KML, PNG)
    ("mavlink", "archive"),     # shell: the vehicle link; the image archive
    ("register",),              # shell: pilots, aircraft, authorisations, logbook (issue 23; lead: re-check its place)
    ("flightlog",),             # shell: the flight log of a flown mission
    ("sim",),                   # shell: simulated vehicle and camera, simulated missions
    ("api",),                   # the application layer: every workflow a user runs
    ("web",),                   # shell: the web map
    ("cli",),                   # shell: the commands
    ("__main__",),              # python -m dronectl
]
CORE = {"dronectl", "errors", "limits", "plandata", "mission", "geo", "camera", "timing", "checks", "survey", "formats"}

# Imports that break the rules today and that other helpers of issue 18 are removing on their branches.
# The lead empties this set after merging them: a listed import that no longer closes a circle or crosses a
# layer makes test_known_exceptions_are_still_needed fail, so it cannot stay here forgotten.
KNOWN_EXCEPTIONS_TO_EMPTY_AFTER_MERGE: set[tuple[str, str]] = {
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """dotted name -> (file, is a package's __init__)"""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = ["dronectl", *f.relative_to(PACKAGE).with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


MODULES = _modules()
TREES = {m: ast.parse(f.read_text(encoding="utf-8"), str(f)) for m, (f, _) in MODULES.items()}


def _base(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from X import ...`` reads, relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if MODULES[module][1] else module.split(".")[:-1]
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _reexports(package: str) -> dict[str, str]:
    """Names a package's __init__ takes from its own modules: name -> module."""
    out = {}
    for node in TREES[package].body:
        if isinstance(node, ast.ImportFrom):
            base = _base(package, node)
            if base in MODULES and base.startswith(package + "."):
                out.update({a.asname or a.name: base for a in node.names})
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            out.update({k: f"{package}.{v}" for k, v in ast.literal_eval(node.value).items()})  # PEP 562 table
    return out


def _target(base: str, name: str | None = None) -> str | None:
    if name is not None:
        if f"{base}.{name}" in MODULES:
            return f"{base}.{name}"
        if base in MODULES and MODULES[base][1]:
            source = _reexports(base).get(name)
            if source is not None:
                return _target(*source.rsplit(".", 1)) if source not in MODULES else source
    return base if base in MODULES else None


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _imports(module: str) -> dict[str, int]:
    """The dronectl modules ``module`` imports, anywhere in it: target -> first line."""
    out: dict[str, int] = {}
    dynamic = False

    def add(target, line):
        if target and target != module:
            out.setdefault(target, line)

    def visit(node):
        nonlocal dynamic
        if _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                add(_target(a.name), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, node)
            for a in node.names:
                add(_target(base, a.name), node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in ("import_module", "find_spec"):
            dynamic = True
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(TREES[module])
    if dynamic:  # importlib.import_module("dronectl.cli.fly") and the like: the modules named in the source
        for node in ast.walk(TREES[module]):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
                add(node.value, node.lineno)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _circles(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The import circles: each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def connect(v):  # Tarjan; the package has a few dozen modules, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(set(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Each import circle as one closed path through it."""
    return [_path_through(graph, g) for g in _circles(graph)]


def _path_through(graph, group: set[str]) -> list[str]:
    """A shortest circle from the group's first module back to itself."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return paths[v] + [start]
                if w in group and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no circle through {start}")  # pragma: no cover


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else module


RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _uphill(importer: str, imported: str) -> bool:
    """An import that goes against the flow: to a higher layer, or to another part of the same layer."""
    a, b = _part(importer), _part(imported)
    return a != b and RANK[b] >= RANK[a]


def _describe(path: list[str]) -> str:
    return path[0] + "".join(f" --line {GRAPH[a][b]}--> {b}" for a, b in zip(path, path[1:]))


def _without_known(graph):
    return {m: {t: n for t, n in ts.items() if (m, t) not in KNOWN_EXCEPTIONS_TO_EMPTY_AFTER_MERGE}
            for m, ts in graph.items()}


def test_the_graph_sees_what_the_modules_import():
    # a module-level import, a function-level one, a re-export resolved to its module, a lazy PEP 562 export,
    # a dynamic import of a command module
    assert "dronectl.errors" in GRAPH["dronectl.geo"]
    assert "dronectl.mission" in GRAPH["dronectl.geo"]  # inside a function
    assert "dronectl.archive.archive" in GRAPH["dronectl.web.app"]  # from dronectl.archive import open_archive
    assert "dronectl.cli.fly" in GRAPH["dronectl.cli"]  # importlib.import_module("dronectl.cli.fly")
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c", "a"]]


def test_every_part_of_the_package_has_its_layer():
    unplaced = sorted({_part(m) for m in MODULES} - set(RANK))
    assert not unplaced, f"place {unplaced} in LAYERS of tests/test_layers.py and in docs/design.md"


def test_no_import_circle():
    cycles = _cycles(_without_known(GRAPH))
    assert not cycles, "import circles:\n" + "\n".join(_describe(c) for c in cycles)


def test_the_flow_is_one_way():
    wrong = [f"{a} (line {line}) imports {b}: {_part(b)} is {'above' if RANK[_part(b)] > RANK[_part(a)] else 'beside'}"
             f" {_part(a)} in LAYERS"
             for a, targets in _without_known(GRAPH).items() for b, line in targets.items() if _uphill(a, b)]
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_the_functional_core_never_reaches_the_shell():
    # transitively: no chain of imports from planning, formats or checks ends in the link, the archive, the web...
    graph = _without_known(GRAPH)
    for start in (m for m in MODULES if _part(m) in CORE):
        seen, todo = {start: [start]}, [start]
        while todo:
            v = todo.pop()
            for w in graph[v]:
                if w not in seen:
                    seen[w] = seen[v] + [w]
                    todo.append(w)
        shell = sorted(w for w in seen if _part(w) not in CORE)
        assert not shell, f"{start} reaches the shell: {' -> '.join(seen[shell[0]])}"


def test_known_exceptions_are_still_needed():
    circles = _circles(GRAPH)
    stale = sorted(e for e in KNOWN_EXCEPTIONS_TO_EMPTY_AFTER_MERGE
                   if e[1] not in GRAPH.get(e[0], {}) or not (any(set(e) <= c for c in circles) or _uphill(*e)))
    assert not stale, f"fixed, remove from KNOWN_EXCEPTIONS_TO_EMPTY_AFTER_MERGE: {stale}"
