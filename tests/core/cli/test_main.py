"""The `steelscan` command: one overview, `--help` on each subcommand, one-line errors, working aliases."""

import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.main import SUBCOMMANDS, main

ROOT = Path(__file__).resolve().parents[3]


def test_the_overview_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_its_own_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: steelscan {name}")


def test_an_unknown_subcommand_lists_the_valid_ones(capsys):
    assert main(["predcit"]) == 2
    assert "unknown subcommand 'predcit'; valid: predict, train" in capsys.readouterr().err


def test_a_wrong_setting_is_one_line_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("STEELSCAN_DEVICE", "gpu")
    assert main(["predict", str(ROOT / "sample_images")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "device='gpu'" in err and err.count("\n") == 1


def test_python_dash_m_aliases_run_the_same_subcommand(tmp_path):
    env = {"STEELSCAN_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "STEELSCAN_SETTINGS": str(tmp_path / "x"),
           "PATH": "/usr/bin:/bin"}
    for module, name in (("core.users", "users"), ("core.synthetic", "synthetic"), ("core.train", "train")):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"usage: steelscan {name}")
    done = subprocess.run([sys.executable, "-m", "core.users", "list"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "no accounts", (done.stdout, done.stderr)
