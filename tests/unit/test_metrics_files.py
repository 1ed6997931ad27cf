"""One Prometheus multiprocess directory per gunicorn master (promo/metrics_files.py)."""
from __future__ import annotations

import os
import subprocess
import sys

from promo import metrics_files


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_starting_master_removes_only_the_directories_of_masters_that_are_gone(tmp_path, monkeypatch):
    monkeypatch.delenv(metrics_files.ENV, raising=False)
    alive = metrics_files.master_directory(tmp_path, os.getppid())
    dead = metrics_files.master_directory(tmp_path, a_dead_pid())
    for directory in (alive, dead):
        directory.mkdir()
        (directory / "counter_123.db").write_bytes(b"counts")
    (tmp_path / "not-a-master").mkdir()

    mine = metrics_files.prepare(tmp_path)

    assert mine == metrics_files.master_directory(tmp_path, os.getpid()) and mine.is_dir()
    assert os.environ[metrics_files.ENV] == str(mine)
    assert (alive / "counter_123.db").read_bytes() == b"counts"
    assert not dead.exists()
    assert (tmp_path / "not-a-master").is_dir()


def test_reading_the_config_again_in_the_same_master_keeps_its_directory_and_counts(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics_files.ENV, str(tmp_path))
    mine = metrics_files.prepare(metrics_files.base_directory("127.0.0.1:8000", "/unused"))
    (mine / "counter_1.db").write_bytes(b"counts")

    again = metrics_files.prepare(metrics_files.base_directory("127.0.0.1:8000", "/unused"))

    assert again == mine == tmp_path / f"master-{os.getpid()}"
    assert (mine / "counter_1.db").read_bytes() == b"counts"


def test_without_a_given_directory_the_base_is_one_per_bind_address_in_the_temp_directory(monkeypatch):
    monkeypatch.delenv(metrics_files.ENV, raising=False)

    assert str(metrics_files.base_directory("127.0.0.1:8000", "/tmp")) == "/tmp/promo-metrics-127.0.0.1-8000"
    assert str(metrics_files.base_directory("unix:/run/promo.sock", "/tmp")) == "/tmp/promo-metrics-unix-_run_promo.sock"
