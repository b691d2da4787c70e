"""Tables for people: one protection table and one visibility table per mode, in Markdown
(readable as plain text too), and the marked section of BENCHMARKS.md that ``cloaker eval
--markdown`` writes or replaces."""

from __future__ import annotations

from pathlib import Path

from cloaker.evaluation.summary import ENSEMBLE, HELD_OUT, Evaluation, ModelScore, ModeSummary

START = "<!-- eval:start -->"
END = "<!-- eval:end -->"


def _cell(score: ModelScore, transform: str) -> str:
    n = score.eligible.get(transform, 0)
    k = score.protected.get(transform, 0)
    p = score.protection(transform)
    return f"n/a ({k}/{n})" if p is None else f"{p:.0%} ({k}/{n})"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def mode_tables(ev: Evaluation, s: ModeSummary) -> str:
    """Protection and visibility tables of one mode, with a heading line."""

    def names(role: str) -> str:
        return ", ".join(x.name for x in s.role_scores(role)) or "none"

    identities = len({r.identity for r in ev.records if r.mode == s.mode})
    lines = [
        f"### mode {s.mode}: {s.photos} photos of {identities} people; "
        f"ensemble: {names(ENSEMBLE)}; held out: {names(HELD_OUT)}",
        "",
        "Protection: faces that verified clean and no longer verify once cloaked "
        "(protected/eligible).",
        "",
        "| model | role | threshold | " + " | ".join(label for _, label in ev.transforms) + " |",
        "|---|---|---|" + "---|" * len(ev.transforms),
    ]
    for sc in s.scores:
        cells = " | ".join(_cell(sc, t) for t, _ in ev.transforms)
        lines.append(f"| {sc.name} | {sc.role} | {sc.threshold:.2f} | {cells} |")
    if len(s.role_scores(HELD_OUT)) > 1:
        pairs = [s.held_out_mean_and_worst(t) for t, _ in ev.transforms]
        lines.append("| held-out mean | | | " + " | ".join(_pct(m) for m, _ in pairs) + " |")
        lines.append("| held-out worst | | | " + " | ".join(_pct(w) for _, w in pairs) + " |")
    lines += [
        "",
        "| face SSIM mean (min) | face DSSIM mean (max) | photo SSIM mean (min) | "
        "photo PSNR mean | seconds per photo mean (max) | CPU seconds per photo mean |",
        "|---|---|---|---|---|---|",
        f"| {_num(s.face_ssim_mean, '.4f')} ({_num(s.face_ssim_min, '.4f')}) "
        f"| {_num(s.face_dssim_mean, '.4f')} ({_num(s.face_dssim_max, '.4f')}) "
        f"| {_num(s.photo_ssim_mean, '.4f')} ({_num(s.photo_ssim_min, '.4f')}) "
        f"| {_num(s.psnr_mean, '.1f')} dB "
        f"| {_num(s.seconds_mean, '.1f')} ({_num(s.seconds_max, '.1f')}) "
        f"| {_num(s.cpu_seconds_mean, '.1f')} |",
    ]
    return "\n".join(lines)


def tables(ev: Evaluation) -> str:
    """Every mode's tables, then the skipped photos."""
    parts = [mode_tables(ev, ev.summary(m)) for m in ev.modes]
    if ev.skipped:
        parts.append("Skipped: " + "; ".join(f"{p} ({why})" for p, why in ev.skipped) + ".")
    return "\n\n".join(parts)


def section(ev: Evaluation, *, command: str, date: str, machine: str) -> str:
    """The BENCHMARKS.md section, markers included."""
    return "\n".join(
        [
            START,
            "## Evaluation (`cloaker eval`)",
            "",
            f"Run {date} on {machine}, with:",
            "",
            f"    {command}",
            "",
            "A cloaked face counts as protected for a model when its distance to the mean clean "
            "embedding of its owner's other photos is at or above the model's threshold; only "
            "faces whose clean photo verifies under the same transform count. Face SSIM: "
            "luminance, main face box, native resolution.",
            "",
            tables(ev),
            END,
        ]
    )


def write_section(path: Path, text: str) -> None:
    """Replace the marked section of ``path`` with ``text`` (markers included), or append
    it when the file has none; creates the file if missing."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = old.find(START), old.find(END)
    if start != -1 and end > start:
        new = old[:start] + text + old[end + len(END) :]
    elif start != -1 or end != -1:
        raise ValueError(f"{path}: unbalanced {START} / {END} markers; fix them by hand")
    else:
        new = (
            old
            + ("\n" if old and not old.endswith("\n") else "")
            + ("\n" if old else "")
            + text
            + "\n"
        )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
