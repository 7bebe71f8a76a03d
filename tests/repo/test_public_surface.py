"""No package reaches into another's privates: the packages talk through their public names only.

An underscored attribute (``obj._name``, not a dunder) may be read only on ``self``, ``cls`` or
``super()``, or by code of the package the object belongs to -- which a static check cannot know, so
the rule is stricter: outside ``curriculum_env`` (whose modules share the env's state,
``env_state.py``), no code reads an underscored attribute of anything but ``self``/``cls``/``super()``,
and nothing anywhere imports an underscored module or name from another top-level package.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "benchmarks", "curriculum_env", "studies", "tests")
OWNERS = {"self", "cls"}
# attributes of other libraries that are their public API despite the underscore
ALLOWED = {"_exit", "_attn_implementation", "_asdict", "_replace", "_fields", "_make"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_owner(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in OWNERS
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def violations(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    """``file:line: what`` for each cross-package underscore access in ``path`` (a file under ``root``)."""
    rel = path.relative_to(root)
    package = rel.parts[0]
    tree = ast.parse(path.read_text(), filename=str(rel))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in PACKAGES and parts[0] != package:
                if any(_private(p) for p in parts):
                    found.append(f"{rel}:{node.lineno}: imports the private module {node.module}")
                found += [f"{rel}:{node.lineno}: imports the private name {a.name} from {node.module}"
                          for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            found += [f"{rel}:{node.lineno}: imports the private module {a.name}" for a in node.names
                      if a.name.split(".")[0] in PACKAGES and a.name.split(".")[0] != package
                      and any(_private(p) for p in a.name.split("."))]
        elif (isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ALLOWED
              and package != "curriculum_env" and not _is_owner(node.value)):
            found.append(f"{rel}:{node.lineno}: reads {ast.unparse(node)}")
    return found


def test_no_package_reads_another_packages_private_names():
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50  # the walk found the tree
    found = [v for p in files for v in violations(p)]
    assert not found, "cross-package private access:\n" + "\n".join(found)


def test_the_check_catches_each_kind_of_access(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    bad = tmp_path / "benchmarks" / "bad.py"
    bad.write_text("from agents._hidden import X\nfrom curriculum_env.env import _helper\n"
                   "def f(env):\n    return env.unwrapped._batch, self._ok, super()._ok(), os._exit\n")
    found = violations(bad, tmp_path)
    assert [f.split(": ", 1)[1] for f in found] == [
        "imports the private module agents._hidden", "imports the private name _helper from curriculum_env.env",
        "reads env.unwrapped._batch"]
