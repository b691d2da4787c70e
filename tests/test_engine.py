"""The engine on real photos with real weights: budget, range, distance, formats, no-face,
group photos, seeds. One warm engine for the module; "low" mode keeps it fast."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cloaker.align import crop_matrices, to_tensor, warp
from cloaker.cloak.modes import FAWKES_MODES, MODES
from cloaker.cloak.optimizer import face_dssim
from cloaker.cloak.ssim import gaussian_blur
from cloaker.engine import Engine
from cloaker.evaluation.metrics import box_pixels, grow_box

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = ROOT / "examples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Engine:
    eng = Engine(device="cpu")
    eng.warm()
    return eng


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _distances(engine: Engine, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    faces = engine.detect(a)
    lm = faces[0].landmarks[None]
    out = {}
    for name, ext in engine.extractors.items():
        m = crop_matrices(lm, np.asarray(ext.template))
        with torch.no_grad():
            ea = ext.embed(warp(to_tensor(a), m, ext.size))
            eb = ext.embed(warp(to_tensor(b), m, ext.size))
        out[name] = float((ea - eb).norm())
    return out


def test_cloak_respects_budget_and_moves_every_model(engine: Engine) -> None:
    rgb = _rgb(ASTRONAUT)
    out, info = engine.cloak_array(rgb, "low", seed=1)
    mode = MODES["low"]
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    assert info.faces == 1 and info.steps >= 1
    # L-inf cap holds on every pixel (rounding to 8 bits may add at most one level).
    assert info.linf <= round(mode.linf * 255) + 1
    assert int(np.abs(out.astype(int) - rgb.astype(int)).max()) == info.linf
    assert all(d <= mode.dssim + 1e-6 for d in info.dssim)
    moved = _distances(engine, rgb, out)
    for name, ext in engine.extractors.items():
        # Far past noise level: a clean re-crop moves embeddings by < 0.05.
        assert moved[name] > 0.3 * ext.threshold, (name, moved)


def test_seed_makes_runs_reproducible(engine: Engine) -> None:
    """Same seed, same pixels, on one CPU thread. With two threads, torch's parallel CPU
    kernels may split sums differently from run to run: seen on a loaded machine, with
    this engine and with the one before the crop-geometry work, as differences of a few
    levels in some pixels."""
    rgb = _rgb(ASTRONAUT)[96:352, 96:352].copy()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, _ = engine.cloak_array(rgb, "low", seed=7)
        b, _ = engine.cloak_array(rgb, "low", seed=7)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(a, b)


def test_no_face_photo_is_unchanged_in_pixels(engine: Engine) -> None:
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    res = engine.cloak_bytes(buf.getvalue(), "mid")
    assert res.status == "no_face" and res.faces == 0 and res.mime == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(res.data))), noise)


def test_cloak_bytes_keeps_format_and_size(engine: Engine) -> None:
    data = ASTRONAUT.read_bytes()
    before = bytes(data)
    stages: list[str] = []
    res = engine.cloak_bytes(data, "low", progress=lambda f, s: stages.append(s))
    assert data == before  # the input buffer is never modified
    assert res.status == "cloaked" and res.faces == 1 and res.mime == "image/jpeg"
    img = Image.open(io.BytesIO(res.data))
    assert img.format == "JPEG" and img.size == (512, 512)
    assert stages[0] == "decode" and stages[-1] == "done" and "optimize" in stages
    assert len(res.data) <= 1.5 * len(data)


def test_group_photo_cloaks_every_face(engine: Engine, faces_dir: Path) -> None:
    rgb = _rgb(faces_dir / "groups" / "05_obama_and_biden.jpg")
    n = len(engine.detect(rgb))
    assert n >= 2
    out, info = engine.cloak_array(rgb, "low", seed=0)
    assert info.faces == n and len(info.dssim) == n
    for f in engine.detect(rgb):
        x0, y0, x1, y1 = (int(v) for v in f.box)
        assert np.abs(out[y0:y1, x0:x1].astype(int) - rgb[y0:y1, x0:x1].astype(int)).max() > 0


def test_fawkes_preset_runs_and_clips(engine: Engine) -> None:
    rgb = _rgb(ASTRONAUT)[96:352, 96:352].copy()
    _out, info = engine.cloak_array(rgb, "fawkes", seed=0)
    assert info.mode == "fawkes" and info.faces == 1
    assert 0 < info.linf <= 16


def test_fawkes_presets_are_its_own_and_run_by_name(engine: Engine) -> None:
    # Fawkes v1.0.2's mode2param: (th, max_step, lr) for low, mid, high.
    got = {n: (m.th, m.steps, m.lr) for n, m in FAWKES_MODES.items()}
    assert got == {
        "fawkes-low": (0.004, 40, 25.0),
        "fawkes": (0.012, 75, 20.0),
        "fawkes-high": (0.017, 150, 15.0),
    }
    rgb = _rgb(ASTRONAUT)[96:352, 96:352].copy()
    out, info = engine.cloak_array(rgb, "fawkes-low", seed=0)
    assert info.mode == "fawkes-low" and info.steps == 40
    assert 0 < info.linf <= 16 and info.dssim and info.dssim[0] > 0
    assert not np.array_equal(out, rgb)


def test_a_mode_object_sweeps_a_budget_with_transfer_levers(engine: Engine) -> None:
    """Benchmarks pass Mode objects (budget sweeps, levers); the budget still binds."""
    rgb = _rgb(ASTRONAUT)
    mode = replace(MODES["low"], name="sweep", dssim=0.004, steps=6, smooth=0.02, noise=0.03)
    out, info = engine.cloak_array(rgb, mode, seed=0)
    assert info.mode == "sweep" and info.faces == 1 and info.steps == 6
    assert all(0 < d <= 0.004 + 1e-6 for d in info.dssim)
    assert not np.array_equal(out, rgb)


def _share_finer_than(rgb: np.ndarray, out: np.ndarray, sigma: float) -> float:
    """The share of a cloak's energy in detail finer than a ``sigma``-px blur keeps."""
    d = torch.from_numpy(out.astype(np.float32) - rgb.astype(np.float32)).permute(2, 0, 1)[None]
    fine = d - gaussian_blur(d, sigma)
    return float(fine.pow(2).sum() / d.pow(2).sum().clamp_min(1e-9))


def test_a_smoothed_cloak_is_smooth_by_construction_and_keeps_its_budgets(engine: Engine) -> None:
    """``smooth_cloak`` blurs the cloak itself (not each step's gradient, which Adam's
    per-pixel step sharpens again): less of it is fine detail, and both caps still hold."""
    rgb = _rgb(ASTRONAUT)
    base = replace(MODES["mid"], name="grad-smoothed", steps=6, smooth_cloak=False)
    smoothed = replace(base, name="cloak-smoothed", smooth_cloak=True)
    out_g, _ = engine.cloak_array(rgb, base, seed=0)
    out_c, info = engine.cloak_array(rgb, smoothed, seed=0)
    assert info.mode == "cloak-smoothed" and info.steps == 6
    assert info.linf <= round(smoothed.linf * 255) + 1
    assert all(0 < d <= smoothed.dssim + 1e-6 for d in info.dssim)
    assert _share_finer_than(rgb, out_c, 2.0) < 0.5 * _share_finer_than(rgb, out_g, 2.0)


def test_a_two_scale_cloak_adds_a_wide_field_and_keeps_its_budgets(engine: Engine) -> None:
    """``smooth_wide`` adds a second field, blurred wider, to the smoothed cloak: more of the
    cloak is coarse than with the narrow field alone, and both caps still hold."""
    rgb = _rgb(ASTRONAUT)
    narrow = replace(MODES["mid"], name="narrow", steps=6, smooth=0.02, smooth_wide=0.0)
    two = replace(narrow, name="two-scale", smooth_wide=0.06)
    out_n, _ = engine.cloak_array(rgb, narrow, seed=0)
    out_2, info = engine.cloak_array(rgb, two, seed=0)
    assert info.mode == "two-scale" and info.steps == 6
    assert info.linf <= round(two.linf * 255) + 1
    assert all(0 < d <= two.dssim + 1e-6 for d in info.dssim)
    # The astronaut's face box is about 170 px: a 6-px blur sits between the two scales.
    assert _share_finer_than(rgb, out_2, 6.0) < _share_finer_than(rgb, out_n, 6.0)


def test_a_ring_projected_apart_keeps_more_of_the_surroundings_cloak(engine: Engine) -> None:
    """``ring`` holds the surroundings to the budget on their own: the face region stays
    within budget, the surroundings do too, and more of the cloak is left on them than when
    one rescale serves both (the face region binds and shrinks the ring with it)."""
    rgb = _rgb(ASTRONAUT)
    joint = replace(MODES["mid"], name="joint", steps=6, ring=False)
    apart = replace(joint, name="apart", ring=True)
    out_j, _ = engine.cloak_array(rgb, joint, seed=0)
    out_a, info = engine.cloak_array(rgb, apart, seed=0)
    assert all(0 < d <= apart.dssim + 1e-6 for d in info.dssim)
    box = engine.detect(rgb)[0].box
    ox0, oy0, ox1, oy1 = box_pixels(grow_box(box, apart.context), rgb.shape[:2])
    # Past the face region and its feathered edge.
    fx0, fy0, fx1, fy1 = box_pixels(grow_box(box, 0.2), rgb.shape[:2])
    ring = np.zeros(rgb.shape[:2], bool)
    ring[oy0:oy1, ox0:ox1] = True
    ring[fy0:fy1, fx0:fx1] = False

    def change(out: np.ndarray) -> float:
        return float(np.abs(out.astype(int) - rgb.astype(int))[ring].mean())

    assert change(out_a) > change(out_j)
    outer = np.array([[ox0, oy0, ox1, oy1]])
    ds = face_dssim(to_tensor(rgb), to_tensor(out_a), outer)
    assert float(ds[0]) <= apart.dssim + 1e-3


def test_a_random_start_without_steps_is_noise_on_the_budget(
    engine: Engine,
) -> None:
    """``random_start`` with no steps is the curves' control: noise shaped as the cloak is
    (blurred, reaching the surroundings), scaled onto the budget, the same for the same seed,
    and moving each surrogate less than six steps of optimization do (at 16/255)."""
    rgb = _rgb(ASTRONAUT)
    # With the L-inf cap lifted, as the curves' control has it.
    control = replace(MODES["mid"], name="noise", steps=0, random_start=1.0, linf=0.25)
    out, info = engine.cloak_array(rgb, control, seed=3)
    again, _ = engine.cloak_array(rgb, control, seed=3)
    other, _ = engine.cloak_array(rgb, control, seed=4)
    assert info.steps == 0 and np.array_equal(out, again) and not np.array_equal(out, other)
    # Scaled up onto the budget, not left at the noise's size (about a quarter of it here);
    # measured again on the rounded photo at full resolution, a little under.
    assert all(0.75 * control.dssim <= d <= control.dssim + 1e-6 for d in info.dssim), info.dssim
    optimized, _ = engine.cloak_array(rgb, replace(MODES["mid"], name="six", steps=6), seed=3)
    noise, steps = _distances(engine, rgb, out), _distances(engine, rgb, optimized)
    assert all(noise[m] < 0.8 * steps[m] for m in steps), (noise, steps)


def test_unknown_mode_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"unknown mode.*fawkes-high"):
        engine.cloak_array(_rgb(ASTRONAUT), "extreme")
