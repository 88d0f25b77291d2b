"""The report's section on the markerless baseline: read from ``DATASET/baseline/baseline.json``
(written by ``odahgen baseline``; this module only reads the file, it does not import the
baseline package), a table of the scores beside the ODAH paper's real-data numbers and a plot."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Callable

BASELINE_FILE = Path("baseline") / "baseline.json"


def _num(value, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{value * scale:.{digits}f}"


def read_baseline(dataset: Path) -> dict | None:
    """The baseline's scores of ``dataset``, None when there are none or the file is unreadable."""
    path = Path(dataset) / BASELINE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("dataset"), dict) else None


def _ordered(values: dict, order: list | None) -> dict:
    """``values`` in ``order`` (the JSON file's keys are sorted), unknown keys last."""
    order = [k for k in (order or []) if k in values]
    return {**{k: values[k] for k in order}, **{k: v for k, v in values.items() if k not in order}}


def _plot(doc: dict, fig_to_img: Callable) -> str:
    import matplotlib.pyplot as plt

    d = doc["dataset"]
    order = doc.get("order") or {}
    groups = _ordered(d.get("angle_mae_deg_per_group") or {}, order.get("groups"))
    groups = {g: v for g, v in groups.items() if v is not None}
    views = d.get("views") or {}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    names = list(groups) + ["overall"]
    vals = list(groups.values()) + [d.get("angle_mae_deg") or float("nan")]
    axes[0].bar(names, vals, color=["#4878a8"] * len(groups) + ["#d1605e"])
    refs = doc.get("reference", {}).get("angle_mae_deg") or {}
    for ref in refs.values():
        axes[0].axhline(ref, ls="--", lw=1, color="#555555")
    if refs:
        axes[0].text(-0.4, max(refs.values()), "real video (paper): " + ", ".join(f"{k} {v:.2f}" for k, v in refs.items()),
                     fontsize=7, va="bottom", ha="left")
    axes[0].set_ylabel("joint-angle MAE (deg)")
    axes[0].set_title("baseline joint-angle MAE per coordinate group")
    axes[0].tick_params(axis="x", labelsize=7, rotation=30)
    width = 0.8 / max(1, len(views))
    joints = []
    for k, (view, s) in enumerate(views.items()):
        per = _ordered(s.get("pck_per_joint") or {}, order.get("joints"))
        joints = list(per)
        axes[1].bar([i + k * width for i in range(len(joints))], [100 * (per[j] or 0) for j in joints], width,
                    label=f"{view} (det. {_num(s.get('detection_rate'), 0, 100)}%)")
    axes[1].set_xticks([i + width * (len(views) - 1) / 2 for i in range(len(joints))], joints, rotation=60,
                       fontsize=7)
    axes[1].set_ylabel("PCK@0.1 torso (%)")
    axes[1].set_ylim(0, 100)
    axes[1].set_title("detector PCK per joint and view")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig_to_img(fig)


def baseline_section(dataset: Path, fig_to_img: Callable) -> list[str]:
    """HTML of the baseline section, or nothing when the dataset has no baseline scores."""
    doc = read_baseline(dataset)
    if doc is None:
        return []
    e = html.escape
    d = doc["dataset"]
    ref = doc.get("reference", {})
    parts = ["<h2 id='baseline'>Markerless baseline</h2>",
             f"<p>{e(str(doc.get('detector', '?')))} 2D detector on every frame, triangulation with the trials' "
             "cameras, <code>odahgen ik</code>, scored with <code>odahgen eval</code>'s metrics "
             f"({d.get('trials_scored', 0)} of {d.get('trials', 0)} trials, {d.get('frames', 0)} frames). "
             f"For orientation, the real-video numbers of {e(str(ref.get('source', 'the ODAH paper')))}.</p>",
             "<table class='baseline'><tr><th>metric</th><th>this dataset</th><th>real video (paper)</th></tr>"]
    refs = ", ".join(f"{k} {v:.2f}" for k, v in (ref.get("angle_mae_deg") or {}).items())
    rows = [("joint-angle MAE (deg), 36 rotational coordinates", _num(d.get("angle_mae_deg"), 2), refs)]
    subsets = _ordered(d.get("angle_mae_deg_per_subset") or {}, (doc.get("order") or {}).get("subsets"))
    rows += [(f"joint-angle MAE (deg), {k.replace('_', ' ')}", _num(v, 2), "") for k, v in subsets.items()]
    rows += [
        ("PA-MPJPE (mm)", _num(d.get("pa_mpjpe_mm")), ""),
        ("PA-MPJVE (mm/s)", _num(d.get("pa_mpjve_mm_s")), ""),
        ("triangulated joints vs GT keypoints (mm)", _num(d.get("triangulated_error_mm")), "")]
    for view, s in (d.get("views") or {}).items():
        rows += [(f"{view}: detection rate (%)", _num(s.get("detection_rate"), 1, 100), ""),
                 (f"{view}: 2D error (px)", _num(s.get("error_px")), ""),
                 (f"{view}: PCK@0.1 torso (%)", _num(s.get("pck"), 1, 100), "")]
    for label, ours, theirs in rows:
        parts.append(f"<tr><th>{e(label)}</th><td class='n'>{ours}</td><td>{e(theirs)}</td></tr>")
    parts.append("</table>")
    groups = _ordered(d.get("angle_mae_deg_per_group") or {}, (doc.get("order") or {}).get("groups"))
    if groups:
        parts.append("<table class='baseline-groups'><tr>" + "".join(f"<th>{e(g)}</th>" for g in groups)
                     + "</tr><tr>" + "".join(f"<td class='n'>{_num(v)}</td>" for v in groups.values())
                     + "</tr></table>")
    try:
        parts.append(_plot(doc, fig_to_img))
    except Exception as err:  # a plot must not cost the report
        parts.append(f"<p>(no plot: {e(type(err).__name__)})</p>")
    flagged = d.get("render_flagged") or []
    if flagged:
        reasons = {t["trial"]: t.get("render_flag_reason", "") for t in doc.get("trials", []) if isinstance(t, dict)}
        parts.append(f"<h3>Flagged as render problems by the detector gate ({len(flagged)})</h3><ul>"
                     + "".join(f"<li>{e(t)}: {e(reasons.get(t, ''))}</li>" for t in flagged) + "</ul>")
    return parts
