"""The blind quality benchmark: exactly what a user gets, nothing told.

Run through ``python benchmarks/quality.py --blind`` (or this file directly, same options).
For every ratio, acquisition (every rho-th plane; sections one spacing thick) and seed, a network is
trained on the anisotropic stack with the *defaults only*: the degradation is calibrated to the
stack by the trainer (core.calibration), no profile, noise or artefact is set by hand. The
estimated profile is recorded next to the true one, with the trainer's no-truth check
(core.model_check), and the reconstruction of a central crop is scored against two truths:

* ``raw``: the FIB-SEM volume itself (250^3 at 10 nm), noise and all -- the numbers of the README;
* ``binned``: the paper's protocol -- the volume binned 3x isotropically (83^3 at 30 nm, a
  denoised truth) before z is reduced, the network trained on that reduced stack.

Training runs a fixed number of steps (``--steps``), so the scores do not depend on the machine's
load; the seconds are recorded. Results: ``benchmarks/results/quality_blind.json`` and the
section of docs/benchmarks.md between ``<!-- blind:start -->`` and ``<!-- blind:end -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # noqa: E402

from napari_a2i3dem.core.analysis.scoring import aligned_truth_planes, score_volume, write_json  # noqa: E402
from napari_a2i3dem.core.model import load_model  # noqa: E402
from napari_a2i3dem.core.physics.calibration import profile_label  # noqa: E402
from napari_a2i3dem.core.training.timebox import (  # noqa: E402
    TrainingPlan,
    interpolate_z,
    reconstruct_isotropic,
    train_model,
)

SPACING_NM = 10.0
START, END = "<!-- blind:start -->", "<!-- blind:end -->"


def bin3(volume: np.ndarray) -> np.ndarray:
    """Mean of 3 x 3 x 3 blocks (the paper's denoised truth)."""
    n = [s // 3 * 3 for s in volume.shape]
    v = volume[: n[0], : n[1], : n[2]].astype(np.float32)
    return v.reshape(n[0] // 3, 3, n[1] // 3, 3, n[2] // 3, 3).mean(axis=(1, 3, 5))


def one_run(truth: np.ndarray, spacing: float, ratio: int, acquisition_name: str, seed: int,
            steps: int, eval_size: int | None, workdir: Path) -> dict:
    make = quality.decimate if acquisition_name == "decimation" else quality.thick_sections
    acquisition = make(truth, ratio)
    label = f"{acquisition_name} rho={ratio} seed={seed} ({truth.shape[0]}^3)"
    plan = TrainingPlan(preset="tiny", steps=steps, batch_size=8,
                        patch_size=min(64, *acquisition.stack.shape[1:]), device="cpu",
                        seed=seed, degradation=None)   # None: calibrated, as a user gets
    model_path = workdir / f"{acquisition_name}-{ratio}-{seed}-{truth.shape[0]}.pt"
    started = time.perf_counter()
    finished = train_model(acquisition.stack, ratio=float(ratio),
                           spacing=(spacing * ratio, spacing, spacing), plan=plan,
                           model_path=model_path, on_event=quality.progress_printer(label))
    train_s = time.perf_counter() - started
    extra = load_model(model_path).extra or {}
    rows = quality.central(truth.shape[1], eval_size)
    cols = quality.central(truth.shape[2], eval_size)
    crop = np.ascontiguousarray(acquisition.stack[:, rows, cols])
    started = time.perf_counter()
    a2i = reconstruct_isotropic(crop, model_path, float(ratio), device="cpu").astype(np.float32)
    reconstruct_s = time.perf_counter() - started
    cubic = interpolate_z(crop, ratio, "cubic", a2i.shape[0])
    rec, ref = aligned_truth_planes(acquisition.stack.shape[0], ratio, acquisition.offset,
                                    truth.shape[0])
    aligned = truth[ref, rows, cols].astype(np.float32)
    scores = {name: score_volume(aligned, v[rec], spacing, ratio=ratio)
              for name, v in (("cubic", cubic), ("A2I-3DEM", a2i))}
    calibration = extra.get("calibration") or {}
    check = extra.get("model_check") or {}
    record = {
        "acquisition": acquisition_name, "ratio": ratio, "seed": seed,
        "truth_shape": list(truth.shape), "spacing_nm": spacing,
        "true_profile": profile_label(acquisition.profile),
        "estimated_profile": calibration.get("label", "?"),
        "kind_right": calibration.get("profile", {}).get("kind") == acquisition.profile.kind,
        "added_noise": calibration.get("added_noise"),
        "check_passed": check.get("passed"), "check_warnings": check.get("warnings", []),
        "steps": finished.step, "train_s": round(train_s, 1),
        "reconstruct_s": round(reconstruct_s, 1),
        "scores": scores,
        "psnr_gain": scores["A2I-3DEM"]["psnr"] - scores["cubic"]["psnr"],
        "ssim_gain": scores["A2I-3DEM"]["ssim"] - scores["cubic"]["ssim"],
    }
    quality.log(f"{label}: estimated {record['estimated_profile']} (true "
                f"{record['true_profile']}); {record['psnr_gain']:+.2f} dB, "
                f"{record['ssim_gain']:+.4f} SSIM over cubic; check "
                f"{'passed' if record['check_passed'] else 'WARNED'}")
    return record


def markdown(payload: dict) -> str:
    s = payload["settings"]
    lines = [START, "", "### Blind: defaults only, nothing told", "",
             f"Command: `{s['command']}`  ", f"Machine: {s['machine']}.  ",
             f"`tiny`, batch 8, patch 64, {s['steps']} steps per run (fixed, so the scores do "
             f"not depend on the machine's load); evaluated on {s['eval']}. Wall time "
             f"{payload['wall_minutes']:.0f} min.", "",
             "| truth | acquisition | ρ | seed | true profile | estimated profile | "
             "cubic PSNR / SSIM | A2I-3DEM PSNR / SSIM | gain | no-truth check |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["runs"]:
        c, a = r["scores"]["cubic"], r["scores"]["A2I-3DEM"]
        lines.append(
            f"| {r['protocol']} | {r['acquisition']} | {r['ratio']} | {r['seed']} | "
            f"{r['true_profile']} | {r['estimated_profile']} | {c['psnr']:.2f} / "
            f"{c['ssim']:.4f} | {a['psnr']:.2f} / {a['ssim']:.4f} | "
            f"**{r['psnr_gain']:+.2f} dB**, {r['ssim_gain']:+.4f} | "
            f"{'passed' if r['check_passed'] else 'warned'} |")
    lines += ["", "`raw`: scored against the FIB-SEM volume itself (10 nm, its own noise); "
              "`binned`: the paper's protocol, the volume binned 3× isotropically (30 nm, "
              "denoised) before z is reduced, trained and scored on that.", "", END]
    return "\n".join(lines)


def update_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="blind quality benchmark (defaults only)")
    p.add_argument("--blind", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, default=quality.DEFAULT_DATA)
    p.add_argument("--ratios", type=int, nargs="+", default=[3, 4])
    p.add_argument("--acquisitions", nargs="+", choices=("decimation", "thick"),
                   default=["decimation", "thick"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--binned-seeds", type=int, nargs="*", default=[0],
                   help="seeds of the binned (paper) protocol ('--binned-seeds' alone: none)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--eval-size", type=int, default=128)
    p.add_argument("--crop", type=int, help="central crop of the truth (smoke tests)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path,
                   default=ROOT / "benchmarks" / "results" / "quality_blind.json")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    truth_path = args.data / quality.FIBSEM
    truth = quality.load_truth(truth_path, args.crop)
    if truth is None:
        print(f"error: {truth_path} not found; give --data", file=sys.stderr)
        return 2
    load_start, wall = os.getloadavg()[0], time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="a2i3dem-blind-") as tmp:
        plan = [("raw", truth, SPACING_NM, seed) for seed in args.seeds]
        plan += [("binned", bin3(truth), 3 * SPACING_NM, seed) for seed in args.binned_seeds]
        for protocol, volume, spacing, seed in plan:
            for ratio in args.ratios:
                for name in args.acquisitions:
                    eval_size = args.eval_size if protocol == "raw" else None
                    record = one_run(volume, spacing, ratio, name, seed, args.steps, eval_size,
                                     Path(tmp))
                    runs.append({"protocol": protocol, **record})
    payload = {
        "settings": {
            "command": "python benchmarks/quality.py --blind " + " ".join(
                a for a in (sys.argv[1:] if argv is None else argv) if a != "--blind"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch "
                       f"threads, torch {torch.__version__}; load average {load_start:.1f} at "
                       f"the start, {os.getloadavg()[0]:.1f} at the end",
            "steps": args.steps,
            "eval": f"a central {args.eval_size} × {args.eval_size} crop (raw), the whole "
                    "binned volume (binned)",
        },
        "runs": runs, "wall_minutes": (time.perf_counter() - wall) / 60.0,
    }
    write_json(args.json, payload)
    args.out.mkdir(parents=True, exist_ok=True)
    update_markdown(args.out / "benchmarks.md", markdown(payload))
    right = sum(r["kind_right"] for r in runs)
    above = sum(r["psnr_gain"] > 0 and r["ssim_gain"] >= 0 for r in runs)
    quality.log(f"done: kind right in {right}/{len(runs)}, above cubic (PSNR and SSIM) in "
                f"{above}/{len(runs)}; {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
