"""The actors' PYTHONPATH: the driver's own fedray first, so that actors run the code the
driver runs even when the working directory holds another checkout; plugins still import
from PYTHONPATH and the working directory."""

import os
from pathlib import Path

import fedray
from fedray.api import worker_path

TREE = str(Path(fedray.__file__).resolve().parent.parent)


def test_the_drivers_tree_comes_before_the_working_directory(tmp_path, monkeypatch):
    other = tmp_path / "other_checkout"
    (other / "fedray").mkdir(parents=True)
    monkeypatch.chdir(other)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/opt/plugins", ""]))

    path = worker_path()

    assert path == [TREE, "/opt/plugins", str(other)]


def test_each_entry_once(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TREE, str(tmp_path), TREE]))

    assert worker_path() == [TREE, str(tmp_path)]
