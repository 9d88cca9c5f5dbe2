"""The project's import graph (top-level modules, sketch_a_net, tools) has no cycle."""
import ast
import os

from conftest import REPO

FOLDERS = ("", "sketch_a_net", "tools")


def project_modules() -> dict:
    """{module name: file path} of the project's Python modules."""
    modules = {}
    for folder in FOLDERS:
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if name.endswith(".py"):
                prefix = "sketch_a_net." if folder == "sketch_a_net" else ""
                modules[prefix + name[:-3]] = os.path.join(REPO, folder, name)
    return modules


def import_graph() -> dict:
    """{module: project modules it imports anywhere in its file (function-level imports included)}."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        graph[name] = sorted(found & set(modules) - {name})
    return graph


def find_cycle(graph: dict) -> list:
    """One import cycle as a list of modules (first repeated at the end), or []."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for dep in graph[node]:
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep, path + [dep])
                if cycle:
                    return cycle
        state[node] = "done"
        return []

    for start in graph:
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return []


def test_find_cycle_sees_a_hand_made_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


def test_the_project_has_no_import_cycle():
    graph = import_graph()
    assert {"utils", "graph_builder", "train", "sketch_a_net.train", "reproduce", "inference",
            "sample_files"} <= set(graph)
    assert "utils" in graph["graph_builder"]  # the data path runs one way: graph_builder -> utils
    assert "safe_npz" in graph["utils"] and "graph_builder" not in graph["utils"]
    assert graph["safe_npz"] == ["errors"]  # reading a file needs nothing of the data path
    assert find_cycle(graph) == []
