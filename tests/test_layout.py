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


FRONT_DOOR = {"tfganaug", "tfganaug.cli", "tfganaug.api", "tfganaug.generator"}
FLOW = ("front door", "sharing", "experiment", "config")  # then the rest
ARROWS_BACK_UP = 3


def room(module, package=PACKAGE):
    """The room of a module: "front door", its subpackage's name, or "the rest" (the root's helpers)."""
    parts = module.split(".")
    if module in FRONT_DOOR:
        return "front door"
    if len(parts) > 2 or (package / parts[1]).is_dir():
        return parts[1]
    return "the rest"


def arrows_back_up(graph, package=PACKAGE):
    """Sorted (importing room, imported room) pairs that point against the flow."""
    rank = {name: i for i, name in enumerate(FLOW)}
    pairs = {(room(a, package), room(b, package)) for a, edges in graph.items() for b in edges}
    return sorted((a, b) for a, b in pairs if rank.get(b, len(FLOW)) < rank.get(a, len(FLOW)))


def test_the_rooms_follow_the_flow_with_no_more_arrows_back_up_than_today():
    """The flow: front door (cli, api, generator, the package's __init__) -> sharing -> experiment -> config
    -> the rest (every other subpackage and the root's helpers, in any order among themselves). An arrow
    back up is a pair of rooms (importing, imported) where the imported room comes earlier in the flow,
    counted once however many modules make it. Today's three: experiment -> sharing (tasks run under the
    plan's locks), the rest -> sharing (files.folder_lock), training -> sharing (a model's lock)."""
    found = arrows_back_up(import_graph())
    assert len(found) <= ARROWS_BACK_UP, f"arrows back up against the flow: {found}"


def test_an_import_from_config_into_sharing_counts_as_an_arrow_back_up(tmp_path):
    for room_name in ("sharing", "config", "experiment"):
        (tmp_path / room_name).mkdir()
        (tmp_path / room_name / "__init__.py").write_text("")
    (tmp_path / "config" / "schema.py").write_text("import tfganaug.sharing.tasks\n")
    (tmp_path / "sharing" / "tasks.py").write_text("from tfganaug.config import schema\n")
    (tmp_path / "experiment" / "work.py").write_text("import tfganaug.config.schema\n")
    assert arrows_back_up(import_graph(tmp_path), tmp_path) == [("config", "sharing")]
