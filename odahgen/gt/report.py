"""``odahgen report DATASET``: one self-contained HTML file (plots embedded as base64 PNGs).

Sections: counts, the QA yield (trials passing QA, a histogram of why the others fail,
pipeline failures by stage and error, yield per motion and per motion source), joint-angle
distributions per coordinate, motion and shape coverage, QA histograms, the QA exclusions,
the markerless baseline's scores when ``odahgen baseline`` has written them
(:mod:`odahgen.gt.report_baseline`), and sample frames of each view with the 2D keypoints drawn.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from odahgen import __version__
from odahgen.gt.dataset import TRIALS_DIR, check_dataset, trial_files
from odahgen.gt.qa_yield import QAYield, error_category, reason_category
from odahgen.gt.report_baseline import baseline_section
from odahgen.gt.schema import TrialGT, load_trial
from odahgen.io import atomic_write_text
from odahgen.io.atomic import check_output_file

MAX_ANGLE_SAMPLES = 200_000  # rows of (T,39) kept for the histograms


def _fig_to_img(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)  # layouts are set per figure: no second draw to crop
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}"/>'


def _read_frame(path: Path, index: int, fps: float = 0.0) -> np.ndarray | None:
    """Frame ``index`` (H,W,3) uint8 of a video, or None if unreadable. With ``fps`` ffmpeg
    seeks to it (``-ss`` before the input: decodes from the key frame before it, not from
    the start of the video)."""
    try:
        import imageio_ffmpeg

        seek = ["-ss", f"{max(index - 0.5, 0.0) / fps:.6f}"] if fps > 0 and index > 0 else []
        gen = imageio_ffmpeg.read_frames(str(path), input_params=seek,
                                         output_params=["-frames:v", "1" if seek else str(index + 1)])
        meta = next(gen)
        w, h = meta["size"]
        frame = None
        for frame in gen:  # one frame after a seek, else every frame up to index
            pass
        gen.close()
        return None if frame is None else np.frombuffer(frame, np.uint8).reshape(h, w, 3).copy()
    except Exception:
        return None


def _angle_plot(angles: np.ndarray, names: tuple[str, ...], rotational: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    cols = 7
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.2, rows * 1.7))
    for j, ax in enumerate(axes.flat):
        if j >= len(names):
            ax.axis("off")
            continue
        vals = angles[:, j]
        vals = np.degrees(vals) if rotational[j] else vals
        vals = vals[np.isfinite(vals)]
        counts, edges = np.histogram(vals, bins=40)
        ax.stairs(counts, edges, fill=True, color="#4878a8")  # one artist, not 40 bars
        ax.set_title(f"{names[j]} ({'deg' if rotational[j] else 'm'})", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    # fixed spacing: tight_layout measures all 42 axes' text (about a second)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.04, top=0.96, wspace=0.12, hspace=0.75)
    return _fig_to_img(fig)


def _coverage_plot(rows: list[dict]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
    motions = Counter(r["motion"] for r in rows)
    names = sorted(motions)
    axes[0].barh(names, [motions[n] for n in names], color="#4878a8")
    axes[0].set_title("trials per motion")
    variants = Counter(r["shape_variant"] for r in rows)
    keys = sorted(variants)
    axes[1].bar([f"{k:+.1f}" for k in keys], [variants[k] for k in keys], color="#6a9f58")
    axes[1].set_title("trials per shape variant (BMI offset)")
    shapes = [r["shape"] for r in rows if r.get("shape") is not None and len(r["shape"]) >= 2]
    if shapes:
        arr = np.array([s[:2] for s in shapes], float)
        axes[2].scatter(arr[:, 0], arr[:, 1], s=12, color="#d1605e")
        axes[2].set_xlabel("shape[0]")
        axes[2].set_ylabel("shape[1]")
    axes[2].set_title("body shape parameters (first two)")
    fig.tight_layout()
    return _fig_to_img(fig)


_QA_PLOTS = (
    ("ik_rms_mean_m", "IK marker RMS (cm)", 100.0),
    ("ik_max_m", "IK max marker error (cm)", 100.0),
    ("flagged_fraction", "flagged frames (fraction)", 1.0),
    ("fit_joint_mm", "fit joint residual (mm)", 1.0),
    ("fit_marker_mm", "fit marker residual (mm)", 1.0),
    ("n_frames", "frames per clip", 1.0),
)


def _qa_plot(rows: list[dict]) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(_QA_PLOTS), figsize=(3 * len(_QA_PLOTS), 2.8))
    for ax, (key, label, factor) in zip(axes, _QA_PLOTS):
        vals = np.array([r["qa"].get(key, np.nan) for r in rows], float) * factor
        vals = vals[np.isfinite(vals)]
        if vals.size:
            counts, edges = np.histogram(vals, bins=20)
            ax.stairs(counts, edges, fill=True, color="#8c6bb1")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _fig_to_img(fig)


def _yield_plot(qa: QAYield) -> str:
    """Two bar charts: what became of the planned trials, and trials per QA failure reason."""
    import matplotlib.pyplot as plt

    outcome = [("pass QA", qa.passed, "#6a9f58"), ("fail QA", qa.failed, "#d1605e")]
    if qa.no_verdict:
        outcome.append(("no QA verdict", qa.no_verdict, "#999999"))
    outcome += [(f"failed at {s}", n, "#e0a040")
                for s, n in sorted(qa.stage_failures.items(), key=lambda kv: (-kv[1], kv[0]))]
    rest = qa.planned - qa.finished - qa.pipeline_failed
    if qa.planned and rest > 0:
        outcome.append(("not finished", rest, "#cccccc"))
    reasons = qa.top_reasons(15)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.35 * max(len(outcome), len(reasons), 4) + 1.2))
    labels, values, colors = zip(*outcome)
    axes[0].barh(labels[::-1], values[::-1], color=colors[::-1])
    axes[0].set_title("trials by outcome")
    if reasons:
        axes[1].barh([r[1] for r in reasons][::-1], [r[2] for r in reasons][::-1], color="#d1605e")
        axes[1].set_title("trials failing each QA gate")
    else:
        axes[1].text(0.5, 0.5, "no trial fails QA", ha="center", va="center", transform=axes[1].transAxes)
        axes[1].axis("off")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for bars in ax.containers:
            ax.bar_label(bars, fontsize=7, padding=2)
    fig.tight_layout()
    return _fig_to_img(fig)


def _pipeline_failures(dataset: Path, qa: QAYield) -> None:
    """Count each ``trials/<t>/failure.json`` (a trial the pipeline stopped) into ``qa``."""
    root = dataset / TRIALS_DIR
    for path in sorted(root.glob("*/failure.json")):
        trial = path.parent.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            stage, error = str(data.get("stage") or "?"), str(data.get("error", ""))
        except (OSError, ValueError, AttributeError):
            stage, error = "?", "no readable failure record"
        qa.add_failure(stage, error_category(error, trial))


def _planned_trials(dataset: Path) -> int:
    """The trial count ``odahgen plan`` recorded in dataset.json (0 when unknown)."""
    try:
        return int(json.loads((dataset / "dataset.json").read_text(encoding="utf-8")).get("trials") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _pct(n: int, of: int) -> str:
    return f"{100.0 * n / of:.1f}%" if of else "-"


def _yield_section(qa: QAYield, rows: list[dict]) -> list[str]:
    """HTML of the yield section: summary table, bar charts, reasons, errors, per group."""
    e = html.escape
    parts = ["<h2 id='yield'>QA yield</h2>", "<table class='yield'>"]
    summary = [("planned trials", qa.planned or "-", ""),
               ("finished (trial.h5 written)", qa.finished, _pct(qa.finished, qa.planned)),
               ("pass QA", qa.passed, _pct(qa.passed, qa.finished) + " of finished"),
               ("fail QA", qa.failed, _pct(qa.failed, qa.finished) + " of finished")]
    if qa.no_verdict:
        summary.append(("finished without a QA verdict", qa.no_verdict, _pct(qa.no_verdict, qa.finished)))
    summary.append(("stopped by a pipeline failure", qa.pipeline_failed, _pct(qa.pipeline_failed, qa.planned)))
    if qa.planned:
        summary.append(("usable (pass QA) of planned", qa.passed, _pct(qa.passed, qa.planned)))
    for label, n, pct in summary:
        parts.append(f"<tr><th>{e(label)}</th><td class='n'>{n}</td><td>{e(pct)}</td></tr>")
    parts += ["</table>", _yield_plot(qa)]
    if qa.reasons:
        parts += ["<h3>Why trials fail QA</h3><p>A trial can fail several gates.</p>",
                  "<table class='reasons'><tr><th>reason</th><th>gate</th><th>trials</th>"
                  "<th>% of finished</th><th>% of QA failures</th></tr>"]
        for key, label, n in qa.top_reasons():
            gate = key if label != key else ""
            parts.append(f"<tr><td>{e(label)}</td><td>{e(gate)}</td><td class='n'>{n}</td>"
                         f"<td>{_pct(n, qa.finished)}</td><td>{_pct(n, qa.failed)}</td></tr>")
        parts.append("</table>")
    if qa.pipeline_failed:
        parts += ["<h3>Pipeline failures</h3>",
                  "<table class='errors'><tr><th>stage</th><th>error</th><th>trials</th></tr>"]
        for stage, error, n in qa.top_errors():
            parts.append(f"<tr><td>{e(stage)}</td><td>{e(error)}</td><td class='n'>{n}</td></tr>")
        parts.append("</table>")
    for key, title in (("motion", "motion"), ("source", "motion source")):
        groups: dict[str, list[int]] = {}
        for r in rows:
            g = groups.setdefault(str(r.get(key, "?")), [0, 0])
            g[0] += 1
            g[1] += bool(r["passed"])
        if len(groups) < 2 and key == "source":
            continue
        parts += [f"<h3>Yield per {title}</h3>",
                  f"<table class='yield-{key}'><tr><th>{title}</th><th>finished</th><th>pass QA</th>"
                  "<th>yield</th></tr>"]
        for name, (n, ok) in sorted(groups.items(), key=lambda kv: (kv[1][1] / kv[1][0], kv[0])):
            parts.append(f"<tr><td>{e(name)}</td><td class='n'>{n}</td><td class='n'>{ok}</td>"
                         f"<td>{_pct(ok, n)}</td></tr>")
        parts.append("</table>")
    return parts


def _sample_frames(gt: TrialGT, trial_dir: Path) -> str:
    import matplotlib.pyplot as plt

    views = list(gt.cameras)
    fig, axes = plt.subplots(1, len(views), figsize=(4.5 * len(views), 3.5), squeeze=False)
    idx = gt.n_frames // 2
    for ax, view in zip(axes[0], views):
        cam = gt.cameras[view]
        width, height = cam.resolution
        frame = None
        if view in gt.videos:
            frame = _read_frame(trial_dir / gt.videos[view].path, idx, gt.videos[view].fps)
        if frame is not None:
            ax.imshow(frame)
        else:
            ax.imshow(np.zeros((height, width, 3), np.uint8))
            ax.text(width / 2, height / 2, "video unreadable", color="w", ha="center")
        pts = cam.keypoints_2d[idx]
        vis = cam.visibility[idx]
        ax.scatter(pts[vis, 0], pts[vis, 1], s=10, c="#ff3030", edgecolors="none")
        ax.scatter(pts[~vis, 0], pts[~vis, 1], s=10, facecolors="none", edgecolors="#ffd000", linewidths=0.6)
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_title(f"{gt.meta.trial} / {view} / frame {idx}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return _fig_to_img(fig)


def build_report(
    dataset: str | Path,
    out: str | Path | None = None,
    samples: int = 3,
    progress: Callable[[int, int, str], None] | None = None,
) -> Path:
    """Write the HTML report (default ``DATASET/report.html``); returns its path. An ``out``
    that is a folder (or lies below a file) is a one-line error before any work."""
    import matplotlib

    matplotlib.use("Agg")
    dataset = check_dataset(dataset)
    out = check_output_file(Path(out) if out else dataset / "report.html")
    files = trial_files(dataset)
    rows: list[dict] = []
    angle_chunks: list[np.ndarray] = []
    total_frames = 0
    sample_imgs: list[str] = []
    names: tuple[str, ...] = ()
    rotational = np.ones(0, bool)
    budget = max(1, MAX_ANGLE_SAMPLES // max(1, len(files)))
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path.parent.name)
        try:
            gt = load_trial(path)
        except Exception as err:  # a broken trial is listed, not fatal for the report
            rows.append({"trial": path.parent.name, "motion": "?", "shape_variant": float("nan"), "shape": None,
                         "qa": {}, "passed": False, "reasons": [f"unreadable: {err}"], "subject": "?",
                         "source": "?", "verdict": True})  # counts as failing QA: "unreadable"
            continue
        names, rotational = gt.coordinate_names, gt.rotational
        step = max(1, gt.n_frames // budget)
        angle_chunks.append(np.asarray(gt.joint_angles)[::step])
        total_frames += gt.n_frames
        qa = dict(gt.qa.metrics) if gt.qa else {}
        qa.setdefault("n_frames", gt.n_frames)
        rows.append({
            "trial": gt.meta.trial, "subject": gt.meta.subject, "motion": gt.meta.motion,
            "shape_variant": gt.meta.shape_variant,
            "shape": None if gt.body is None else np.asarray(gt.body.shape),
            "qa": qa, "passed": bool(gt.qa and gt.qa.passed),
            "reasons": list(gt.qa.reasons) if gt.qa else ["no QA result"],
            "source": gt.meta.motion_source, "verdict": gt.qa is not None,
        })
        if len(sample_imgs) < samples and gt.cameras:
            sample_imgs.append(_sample_frames(gt, path.parent))
    qa_yield = QAYield(planned=_planned_trials(dataset))
    for r in rows:
        if r["verdict"]:
            qa_yield.add_verdict(r["passed"], [reason_category(x) for x in r["reasons"]])
        else:
            qa_yield.add_no_verdict()
    _pipeline_failures(dataset, qa_yield)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>odahgen report: {html.escape(dataset.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
        "th{text-align:left}td.n{text-align:right}</style></head><body>",
        f"<h1>Dataset report: {html.escape(dataset.name)}</h1>",
        f"<p>odahgen {__version__}. {len(rows)} trials, {sum(r['passed'] for r in rows)} pass QA, "
        f"{len({r['subject'] for r in rows})} subjects, {len({r['motion'] for r in rows})} motions, "
        f"{total_frames} frames per view.</p>",
    ]
    parts += _yield_section(qa_yield, rows)
    if angle_chunks:
        parts += ["<h2>Joint-angle distributions</h2>", _angle_plot(np.concatenate(angle_chunks), names, rotational)]
    if rows:
        parts += ["<h2>Motion and shape coverage</h2>", _coverage_plot(rows)]
        parts += ["<h2>QA</h2>", _qa_plot(rows)]
    failed = [r for r in rows if not r["passed"]]
    parts.append(f"<h3>Trials excluded by QA ({len(failed)})</h3>")
    if failed:
        parts.append("<table><tr><th>trial</th><th>reasons</th></tr>")
        for r in failed:
            parts.append(f"<tr><td>{html.escape(r['trial'])}</td><td>{html.escape('; '.join(r['reasons']))}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts += baseline_section(dataset, _fig_to_img)  # when `odahgen baseline` has run
    if sample_imgs:
        parts += ["<h2>Sample frames with 2D keypoints</h2>",
                  "<p>Red: visible keypoints; yellow circles: not visible.</p>"] + sample_imgs
    parts.append("</body></html>")
    if progress:
        progress(len(files), len(files), "")
    atomic_write_text(out, "\n".join(parts))
    return out
