"""No import cycle between skintrack's modules, imports inside functions included (those hid
the store -> archive -> backup -> store cycle). The layers themselves are import-linter's
contracts in pyproject.toml (make lint)."""

import pytest

grimp = pytest.importorskip("grimp")  # comes with import-linter (requirements-dev.txt)


def find_cycle(graph) -> list[str] | None:
    """One cycle of module imports, or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if not imported.startswith("skintrack"):
                continue
            if state.get(imported) == 1:
                return stack[stack.index(imported) :] + [imported]
            if imported not in state and (found := visit(imported)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph.modules):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycle():
    graph = grimp.build_graph("skintrack")
    assert len(graph.modules) > 40
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("skintrack.a", "skintrack.b", "skintrack.c"):
        graph.add_module(name)
    graph.add_import(importer="skintrack.a", imported="skintrack.b")
    graph.add_import(importer="skintrack.b", imported="skintrack.c")
    assert find_cycle(graph) is None
    graph.add_import(importer="skintrack.c", imported="skintrack.a")
    assert find_cycle(graph) == ["skintrack.a", "skintrack.b", "skintrack.c", "skintrack.a"]
