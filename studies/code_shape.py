"""The shape of the code base, as someone taking it over would count it: options per config, the comparison's
command-line flags, registered agents, the longest functions, import circles, the README's length and the lines
of each package. Run it on the working tree or on a git revision to compare the two::

    python -m studies.code_shape                 # the working tree
    python -m studies.code_shape --rev 053a74d   # a revision (extracted with git archive into a temporary folder)

Everything is read from the source with :mod:`ast` (nothing is imported), so it runs on any revision.
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator

PACKAGES = ("curriculum_env", "agents", "benchmarks", "studies", "tests")
"""The top-level packages counted; the product is the first three."""


def python_files(root: pathlib.Path, packages: tuple[str, ...] = PACKAGES) -> Iterator[pathlib.Path]:
    for package in packages:
        yield from sorted((root / package).rglob("*.py"))


def module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def longest_functions(root: pathlib.Path, most: int = 10) -> list[tuple[int, str]]:
    """The ``most`` longest functions of the product (not the tests): (lines, "file:function"), longest first."""
    rows = []
    for path in python_files(root, PACKAGES[:-1]):
        for fn in functions(ast.parse(path.read_text())):
            rows.append((fn.end_lineno - fn.lineno + 1, f"{path.relative_to(root)}:{fn.name}"))
    return sorted(rows, reverse=True)[:most]


def imports(root: pathlib.Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (function-level imports included)."""
    known = {module_name(root, p): p for p in python_files(root, PACKAGES[:-1])}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in known and t != name and not name.startswith(t + ".")}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def dataclass_fields(path: pathlib.Path, cls: str) -> list[str]:
    """The annotated fields a class declares itself (inherited ones not included)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                    and "ClassVar" not in ast.unparse(s.annotation)]
    return []


def soft_q_options(root: pathlib.Path) -> int:
    """The soft-Q agent's options: its config's fields, a grouped config's group fields counted one by one, plus
    the Q-learning fields every soft-Q config inherits."""
    config = root / "agents" / "soft_q_config.py"
    own = dataclass_fields(config, "SoftQConfig")
    q_learning = len(dataclass_fields(root / "agents" / "q_learning.py", "QLearningConfig"))
    groups = {"q": "QConfig", "temperature": "TemperatureConfig", "action": "ActionConfig", "credit": "CreditConfig",
              "inputs": "InputConfig", "replay": "ReplayConfig", "ablation": "AblationConfig"}
    if set(own) == set(groups):  # seven groups of flat options
        temperature = root / "agents" / "temperature.py"
        count = q_learning + len(dataclass_fields(temperature, "TemperatureConfig"))
        return count + sum(len(dataclass_fields(config, cls)) for name, cls in groups.items() if name != "temperature")
    return q_learning + len(own)


def registered_agents(root: pathlib.Path) -> tuple[int, int]:
    """(names in ``agents.AGENTS``, distinct classes behind them)."""
    for node in ast.walk(ast.parse((root / "agents" / "__init__.py").read_text())):
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "AGENTS" and isinstance(node.value, ast.Dict):
                classes = set()
                for value in node.value.values:
                    first = value.elts[0] if isinstance(value, ast.Tuple) else value
                    classes.add(ast.literal_eval(first))
                return len(node.value.keys), len(classes)
    return 0, 0


def cli_flags(root: pathlib.Path) -> list[str]:
    """The option strings ``python -m benchmarks.compare`` accepts: its literal ``add_argument`` calls, and the
    fields of a dataclass ``Args`` (one flag ``--field-name`` each)."""
    flags = []
    for path in sorted((root / "benchmarks").glob("compare*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith("--"):
                    flags.append(first.value)
        flags += ["--" + name.replace("_", "-") for name in dataclass_fields(path, "Args")]
    return flags


def shape(root: pathlib.Path) -> dict:
    graph = imports(root)
    lines = Counter()
    for path in python_files(root):
        lines[path.relative_to(root).parts[0]] += len(path.read_text().splitlines())
    names, classes = registered_agents(root)
    return {
        "soft_q_options": soft_q_options(root),
        "env_config_fields": len(dataclass_fields(root / "curriculum_env" / "config.py", "EnvConfig")),
        "compare_flags": len(cli_flags(root)), "compare_flag_names": cli_flags(root),
        "registered_agents": names, "agent_classes_registered": classes,
        "longest_functions": longest_functions(root),
        "import_circles": import_circles(graph),
        "readme_lines": len((root / "README.md").read_text().splitlines()),
        "lines_per_package": dict(lines),
    }


def extract(rev: str, into: pathlib.Path) -> pathlib.Path:
    """The tree of git revision ``rev`` in folder ``into``."""
    archive = subprocess.run(["git", "archive", "--format=tar", rev], capture_output=True, check=True).stdout
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(into, filter="data")
    return into


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.code_shape", description=__doc__.split("\n")[0])
    p.add_argument("--rev", default=None, help="a git revision to measure instead of the working tree")
    p.add_argument("--json", action="store_true", help="print JSON instead of a report")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = extract(args.rev, pathlib.Path(tmp)) if args.rev else pathlib.Path.cwd()
        result = shape(root)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"soft-Q options {result['soft_q_options']}, EnvConfig fields {result['env_config_fields']}, "
          f"compare flags {result['compare_flags']}, registered agents {result['registered_agents']} "
          f"({result['agent_classes_registered']} classes), README {result['readme_lines']} lines")
    print("import circles:", result["import_circles"] or "none")
    print("longest functions:", ", ".join(f"{name} ({n})" for n, name in result["longest_functions"]))
    print("lines per package:", ", ".join(f"{k} {v}" for k, v in result["lines_per_package"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
