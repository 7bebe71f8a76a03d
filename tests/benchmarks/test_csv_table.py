"""``benchmarks.csv_table.write_csv``: the one CSV writer of the benchmark scripts."""

import csv

import pytest

from benchmarks.csv_table import write_csv


def raw(path):
    """The file's text exactly as written (csv ends lines with \\r\\n; read_text would fold them)."""
    return path.read_bytes().decode()


def test_rows_with_differing_keys_share_one_header_in_first_seen_order(tmp_path):
    path = tmp_path / "table.csv"
    write_csv(path, [{"step": 1, "reward": -8.5}, {"step": 2, "loss": 0.25, "reward": -8.25}, {"note": "a,b"}])
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["step", "reward", "loss", "note"]
        assert list(reader) == [
            {"step": "1", "reward": "-8.5", "loss": "", "note": ""},
            {"step": "2", "reward": "-8.25", "loss": "0.25", "note": ""},
            {"step": "", "reward": "", "loss": "", "note": "a,b"},
        ]
    assert raw(path) == 'step,reward,loss,note\r\n1,-8.5,,\r\n2,-8.25,0.25,\r\n,,,"a,b"\r\n'


def test_columns_lead_the_header_and_give_an_empty_table_its_header(tmp_path):
    write_csv(tmp_path / "a.csv", [{"x": 1, "seed": 0}], columns=("seed", "task"))
    assert raw(tmp_path / "a.csv") == "seed,task,x\r\n0,,1\r\n"
    write_csv(tmp_path / "b.csv", [], columns=("task", "step"))
    assert raw(tmp_path / "b.csv") == "task,step\r\n"
    write_csv(tmp_path / "c.csv", iter([]))
    assert raw(tmp_path / "c.csv") == ""


def test_plain_rows_are_refused_with_a_message(tmp_path):
    with pytest.raises(TypeError, match="rows as dicts.*got list rows"):
        write_csv(tmp_path / "t.csv", [["task", "agent"], ["noisy", "random"]])
    assert not (tmp_path / "t.csv").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, [{"a": 1}])

    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot print")

    with pytest.raises(RuntimeError, match="cannot print"):
        write_csv(path, [{"a": 2}, {"a": Unprintable()}])
    assert raw(path) == "a\r\n1\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    write_csv(path, [{"b": 3}])  # a successful write replaces the file
    assert raw(path) == "b\r\n3\r\n"
