"""The CLI surface: --help everywhere, one-line errors, and `odahgen doctor`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from odahgen import cli


def run_cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "odahgen.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_help_lists_only_registered_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    parser = cli.build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001
    assert "doctor" in names
    for name in names:
        assert name in proc.stdout
        sub = run_cli(name, "--help")
        assert sub.returncode == 0 and "usage:" in sub.stdout, name


def test_unknown_command_fails():
    proc = run_cli("frobnicate")
    assert proc.returncode != 0


@pytest.mark.blender
def test_doctor_passes_here(blender_python):
    proc = run_cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("Python", "NumPy", "opensim", "torch", "anny", "smplx", "Blender", "Cycles",
                 "Workbench", "EEVEE", "GPU devices", "ffmpeg"):
        assert name in proc.stdout, name


def test_doctor_names_a_missing_blender(tmp_path, monkeypatch):
    import os

    env = dict(os.environ, ODAHGEN_BLENDER=str(tmp_path / "no-blender"))
    proc = run_cli("doctor", "--blender", str(tmp_path / "no-blender"), env=env)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Blender" in err[0] and "make setup" in err[0], proc.stderr


def test_doctor_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[render]\nengine = 'povray'\n")
    proc = run_cli("doctor", "--config", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "render.engine" in lines[0]
