"""studies.code_shape: the circles, function lengths and option counts it reports, on trees built by hand."""

import pathlib

from studies import code_shape


def write(root: pathlib.Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_import_circles_are_the_groups_that_reach_each_other():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(code_shape.import_circles(graph)) == [["a", "b", "c"], ["e", "f"]]
    assert code_shape.import_circles({"x": {"y"}, "y": set()}) == []


def test_imports_count_function_level_imports_and_only_project_modules(tmp_path):
    write(tmp_path, "agents/__init__.py", "")
    write(tmp_path, "agents/one.py", "import os\n\ndef f():\n    from agents import two\n    return two\n")
    write(tmp_path, "agents/two.py", "from agents.one import f\n")
    graph = code_shape.imports(tmp_path)
    assert graph["agents.one"] == {"agents.two"} and graph["agents.two"] == {"agents.one"}
    assert code_shape.import_circles(graph) == [["agents.one", "agents.two"]]


def test_longest_functions_count_lines_with_their_docstrings(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    write(tmp_path, "benchmarks/long.py", f'def long():\n    """Doc."""\n{body}\n\n\ndef short():\n    return 1\n')
    rows = code_shape.longest_functions(tmp_path, most=2)
    assert rows == [(62, "benchmarks/long.py:long"), (2, "benchmarks/long.py:short")]


def test_cli_flags_count_add_argument_calls_and_args_fields(tmp_path):
    write(tmp_path, "benchmarks/compare.py", 'p.add_argument("--out")\np.add_argument("figure")\n')
    write(tmp_path, "benchmarks/compare_args.py", "@dataclass\nclass Args:\n    stream_width: int = 1\n"
          "    quick: bool = False\n")
    assert code_shape.cli_flags(tmp_path) == ["--out", "--stream-width", "--quick"]


def test_the_repository_itself():
    shape = code_shape.shape(pathlib.Path(__file__).resolve().parents[2])
    assert shape["soft_q_options"] == 15  # the soft-Q agent's options, Q-learning's five included
    assert shape["registered_agents"] >= shape["agent_classes_registered"] > 5
