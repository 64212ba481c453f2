"""The package's shape: no import circle between its modules, and no module over 350 lines."""

import ast
from pathlib import Path

import tfganaug

PACKAGE = Path(tfganaug.__file__).parent
MAX_LINES = 350


def _module_name(path, package):
    parts = ("tfganaug",) + path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package=PACKAGE):
    """{module: set of tfganaug modules it imports}, every import counted (also those inside functions)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from a.b import c` imports the module a.b.c when there is one, else names of a.b
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                           for alias in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle_inside_the_package():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_circle_finder_finds_a_circle_and_follows_imports_inside_functions(tmp_path):
    (tmp_path / "a.py").write_text("import tfganaug.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from tfganaug.a import x\n")
    (tmp_path / "c.py").write_text("from tfganaug import a\n")
    graph = import_graph(tmp_path)
    assert graph["tfganaug.c"] == {"tfganaug.a"}
    assert find_cycle(graph) == ["tfganaug.a", "tfganaug.b", "tfganaug.a"]


def test_no_module_is_over_350_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (lines): {long}"
