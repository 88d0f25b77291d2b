"""Find a Blender and run odahgen's Blender worker in it as a subprocess.

Resolution order (first that is set wins; a set-but-broken choice is an error, never
skipped silently):
  1. the config's ``render.blender``;
  2. the ``ODAHGEN_BLENDER`` environment variable;
  3. ``.venv-blender/bin/python`` of this checkout (made by ``make setup``);
  4. ``blender`` on PATH.
Each may be a ``blender`` >= 4.2 binary or a Python interpreter that can import bpy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from odahgen.errors import OdahgenError
from odahgen.io.atomic import atomic_write_json

MIN_BLENDER = (4, 2)
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../odahgen
REPO_ROOT = PACKAGE_ROOT.parent
WORKER_PATH = Path(__file__).resolve().parent / "blender_worker.py"


class BlenderError(OdahgenError):
    """Blender is missing, too old, crashed, or timed out."""


@dataclass(frozen=True)
class Blender:
    """A usable Blender: ``kind`` is ``"binary"`` (blender executable) or ``"python"``."""

    path: str
    kind: str
    version: tuple[int, int, int]
    source: str  # where it was found: config, ODAHGEN_BLENDER, .venv-blender, PATH

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    def command(self, job_file: Path) -> list[str]:
        """The argv that runs the worker on ``job_file``."""
        if self.kind == "binary":
            return [self.path, "-b", "--factory-startup", "-noaudio", "-P", str(WORKER_PATH),
                    "--", str(job_file)]
        # run as a script, not ``-m odahgen.render...``: importing the package (its fronts)
        # would need the core environment's dependencies, which Blender's Python lacks
        return [self.path, str(WORKER_PATH), str(job_file)]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The worker is a standalone script (bpy, NumPy and the standard library only), so
        # nothing of odahgen has to be importable in Blender's Python.
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env


def candidates(configured: str | None = None) -> list[tuple[str, str]]:
    """(source, path) pairs in resolution order; unset sources are left out."""
    out: list[tuple[str, str]] = []
    if configured:
        out.append(("config render.blender", configured))
    env = os.environ.get("ODAHGEN_BLENDER")
    if env:
        out.append(("ODAHGEN_BLENDER", env))
    venv_python = REPO_ROOT / ".venv-blender" / "bin" / "python"
    if venv_python.exists():
        out.append((".venv-blender", str(venv_python)))
    on_path = shutil.which("blender")
    if on_path:
        out.append(("PATH", on_path))
    return out


_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def probe_executable(path: str, source: str, timeout: float = 120.0) -> Blender:
    """Classify ``path`` as a blender binary or a Python with bpy, and read its version."""
    exe = shutil.which(path) or path
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise BlenderError(f"{source}: {path} is not an executable file")
    name = os.path.basename(exe).lower()
    try:
        if name.startswith("python"):
            kind = "python"
            proc = subprocess.run([exe, "-c", "import bpy; print('BPY', bpy.app.version_string)"],
                                  capture_output=True, text=True, timeout=timeout)
            match = re.search(r"BPY (\S+)", proc.stdout)
            if proc.returncode != 0 or not match:
                raise BlenderError(f"{source}: {exe} is a Python without bpy "
                                   f"(run `make setup` to create .venv-blender)")
            text = match.group(1)
        else:
            kind = "binary"
            proc = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                  timeout=timeout)
            match = re.search(r"Blender\s+(\d+\.\d+(?:\.\d+)?)", proc.stdout)
            if not match:
                raise BlenderError(f"{source}: {exe} --version did not report a Blender version")
            text = match.group(1)
    except subprocess.TimeoutExpired:
        raise BlenderError(f"{source}: {exe} did not answer within {timeout:.0f} s") from None
    except OSError as err:
        raise BlenderError(f"{source}: cannot run {exe}: {err.strerror}") from None
    nums = _VERSION_RE.match(text)
    version = (int(nums.group(1)), int(nums.group(2)), int(nums.group(3) or 0))
    if version[:2] < MIN_BLENDER:
        raise BlenderError(f"{source}: {exe} is Blender {text}; odahgen needs >= "
                           f"{MIN_BLENDER[0]}.{MIN_BLENDER[1]}")
    return Blender(path=exe, kind=kind, version=version, source=source)


def find_blender(configured: str | None = None) -> Blender:
    """The Blender to use (see the module docstring for the order)."""
    cands = candidates(configured)
    if not cands:
        raise BlenderError("no Blender found: run `make setup` (creates .venv-blender with bpy), "
                           "or set ODAHGEN_BLENDER / render.blender to a blender >= 4.2 binary")
    source, path = cands[0]
    return probe_executable(path, source)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(text):  # the worker's own one-line error, if it printed one
        if line.startswith("ODAHGEN-ERROR:"):
            return line[len("ODAHGEN-ERROR:"):].strip()
    return " | ".join(x.strip() for x in text[-lines:])


def run_worker(
    job: dict,
    workdir: str | os.PathLike,
    log_path: str | os.PathLike | None = None,
    timeout_s: float = 3600.0,
    blender: Blender | None = None,
    configured: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> dict:
    """Run one worker task in a fresh Blender process; return its result dict.

    The job is written to ``workdir/<task>.job.json``; stdout and stderr stream into
    ``log_path`` (default ``workdir/<task>.blender.log``); ``on_line`` sees each log line
    (for progress). A crash, a non-zero exit or a timeout raises BlenderError with the log
    path and the worker's last error line.
    """
    blender = blender or find_blender(configured)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    name = job.get("task", "job")
    log_path = Path(log_path) if log_path else workdir / f"{name}.blender.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result_path = workdir / f"{name}.result.json"
    result_path.unlink(missing_ok=True)
    job_file = workdir / f"{name}.job.json"
    atomic_write_json(job_file, {**job, "result": str(result_path)})

    cmd = blender.command(job_file)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"# {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=blender.environment(), start_new_session=True,
                                errors="replace")
        pump = threading.Thread(target=_pump, args=(proc, log, on_line), daemon=True)
        pump.start()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            pump.join(timeout=5)
            raise BlenderError(f"Blender worker task {name!r} timed out after {timeout_s:.0f} s "
                               f"(killed; log: {log_path})") from None
        pump.join(timeout=30)
    if code != 0 or not result_path.exists():
        why = _tail(log_path) or f"exit code {code}"
        raise BlenderError(f"Blender worker task {name!r} failed (exit {code}): {why} "
                           f"(log: {log_path})")
    return json.loads(result_path.read_text())


def _pump(proc: subprocess.Popen, log, on_line) -> None:
    """Copy the process's output into the log, line by line, as it comes."""
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        if on_line:
            on_line(line.rstrip("\n"))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def probe_blender(blender: Blender | None = None, engines=("cycles", "workbench"),
                  timeout_s: float = 300.0) -> dict:
    """Run the worker's ``probe`` task: version, GPU devices, engines that render."""
    with tempfile.TemporaryDirectory(prefix="odahgen-probe-") as tmp:
        return run_worker({"task": "probe", "engines": list(engines), "tmpdir": tmp}, tmp,
                          timeout_s=timeout_s, blender=blender)


if __name__ == "__main__":  # pragma: no cover - manual check
    print(find_blender(sys.argv[1] if len(sys.argv) > 1 else None))
