"""Quality benchmark on real EM: A2I-3DEM versus interpolation against an isotropic truth.

Usage (repository root, project venv)::

    python benchmarks/quality.py                       # CPU preset, 20-minute budget
    python benchmarks/quality.py --minutes 45          # longer training, same protocol
    python benchmarks/quality.py --crop 48 --steps 5 --out /tmp/q   # smoke test (seconds)
    python benchmarks/quality.py --blind               # defaults only, rho 3 and 4, 3 seeds

Protocol (docs/benchmarks.md explains it in full):

1. The isotropic FIB-SEM volume ``fibsem_medulla_10nm_iso.tif`` (250^3 at 10 nm) is the truth.
   Its z axis is reduced by rho = 3 in two ways: *decimation* (every third plane: plane k is truth
   plane 3k) and *thick sections* (mean of planes 3k..3k+2: its centre is truth plane 3k+1, so
   the aligned truth grid is offset by one plane).
2. A network is trained on each anisotropic stack alone (self-supervised, pairs from its own xy
   planes). The truth is used for scoring only. The training is told the slice profile of the
   acquisition (decimation -> point sampling, thick -> box of one section), as a user who knows
   the microscope would, and no extra noise or artefacts (none were added).
3. Nearest, linear, cubic and A2I-3DEM are put on the 10 nm grid, cropped to the planes between
   the first and last section and scored on the same voxels (a central lateral crop when
   ``--eval-size`` is set): PSNR / SSIM over the volume and on xz and yz planes, and the axial
   resolution from the Fourier correlation with the truth (core.evaluation).
4. On the real anisotropic ssTEM stacks (no truth) the no-reference decorrelation resolution
   (core.resolution) of cubic and A2I-3DEM is reported, lateral versus axial.

The training time of each run is set from ``--minutes`` after measuring this machine's speed
(``--steps`` fixes it instead). Results: a JSON file, figures, and a section of
docs/benchmarks.md between ``<!-- quality:start -->`` and ``<!-- quality:end -->`` markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
FIBSEM = "fibsem_medulla_10nm_iso.tif"
REAL_STACKS = ("cremi_sample.tif", "isbi2012_train.tif")
RATIO = 3
PAPER = {"cubic": 28.15, "A2I-3DEM": 30.61}   # PSNR (dB) reported by the paper, FIB-SEM, rho 3

from napari_a2i3dem.core.analysis.figures import save_comparison_figure  # noqa: E402
from napari_a2i3dem.core.analysis.resolution import assess_stack  # noqa: E402
from napari_a2i3dem.core.analysis.scoring import (  # noqa: E402
    aligned_truth_planes,
    format_table,
    score_volume,
    write_json,
)
from napari_a2i3dem.core.io.atomic import atomic_file  # noqa: E402
from napari_a2i3dem.core.io.tiff import read_stack  # noqa: E402
from napari_a2i3dem.core.model import A2I3DEMNet, preset  # noqa: E402
from napari_a2i3dem.core.physics.acquisition import SliceProfile  # noqa: E402
from napari_a2i3dem.core.physics.degradations import DegradationConfig  # noqa: E402
from napari_a2i3dem.core.training.config import TrainConfig  # noqa: E402
from napari_a2i3dem.core.training.events import (  # noqa: E402
    StepProgress,
    TrainingFinished,
    ValidationResult,
)
from napari_a2i3dem.core.training.timebox import (  # noqa: E402
    INTERPOLATIONS,
    TrainingPlan,
    interpolate_z,
    reconstruct_isotropic,
    train_model,
)
from napari_a2i3dem.core.validation import ratio_from_spacing  # noqa: E402

PRESETS = {
    # 2 CPU cores: the tiny network; evaluated on a central 128 x 128 lateral crop (all planes),
    # the ssTEM stacks assessed on a central 96 x 96 crop.
    "cpu": {"network": "tiny", "batch": 8, "patch": 64, "lr": None, "eval_size": 128,
            "real_size": 96},
    # A GPU: the paper-sized network on the whole volume.
    "gpu": {"network": "base", "batch": 16, "patch": 128, "lr": None, "eval_size": None,
            "real_size": None},
}
# Shares of the training budget: the two FIB-SEM acquisitions, then each real stack.
FIBSEM_SHARE, REAL_SHARE = 0.4, 0.1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------ acquisitions

@dataclass
class Acquisition:
    """An anisotropic stack made from the truth, and where its sections sit in the truth."""

    name: str
    stack: np.ndarray          # float32 (K, Y, X)
    offset: int                # truth plane of section 0
    profile: SliceProfile      # what the training is told


def decimate(truth: np.ndarray, ratio: int) -> Acquisition:
    """Every ``ratio``-th plane: section k is truth plane ``k * ratio``."""
    return Acquisition("decimation", truth[::ratio].astype(np.float32), 0, SliceProfile("none"))


def thick_sections(truth: np.ndarray, ratio: int) -> Acquisition:
    """Sections one spacing thick: a box of ``ratio`` planes (fractional end weights for an
    even ``ratio``: [0.5, 1, 1, 1, 0.5] / 4 at rho = 4) centred on truth plane
    ``c + k * ratio``, ``c`` the box's radius (rho = 3: the mean of planes 3k .. 3k + 2)."""
    kernel = SliceProfile("box", 1.0).kernel_1d(ratio).astype(np.float32)
    radius = len(kernel) // 2
    count = (truth.shape[0] - 2 * radius - 1) // ratio + 1
    planes = radius + ratio * np.arange(count)
    stack = np.zeros((count, *truth.shape[1:]), dtype=np.float32)
    for i, w in enumerate(kernel):
        stack += w * truth[planes - radius + i].astype(np.float32)
    return Acquisition("thick sections", stack, radius, SliceProfile("box", 1.0))


def xz_panels(volumes: dict, aligned: np.ndarray, rec: slice, span: int = 120,
              ) -> tuple[dict, int, int]:
    """The same central xz plane of every method (on the scored planes ``rec``) and of the
    truth, ``span`` planes deep: ``(panels, y, z0)`` for a comparison figure."""
    y = aligned.shape[1] // 2
    span = min(aligned.shape[0], span)
    z0 = (aligned.shape[0] - span) // 2
    panels = {m: v[rec][z0:z0 + span, y] for m, v in volumes.items()}
    panels["truth"] = aligned[z0:z0 + span, y]
    return panels, y, z0


def load_truth(path: Path, crop: int | None) -> np.ndarray | None:
    """The isotropic truth volume (a central ``crop``^3 when asked); None when absent."""
    if not path.is_file():
        return None
    truth = np.asarray(read_stack(path).data)
    if crop:
        truth = truth[tuple(central(n, crop) for n in truth.shape)]
    return truth


def central(n: int, size: int | None) -> slice:
    if size is None or size >= n:
        return slice(0, n)
    start = (n - size) // 2
    return slice(start, start + size)


# ------------------------------------------------------------------------------ timing

def inference_seconds_per_pixel(network: str, device: str) -> float:
    """Seconds per output pixel of one network pass (one 4 x 256^2 batch, random weights)."""
    model = A2I3DEMNet(preset(network)).eval()
    if device != "cpu" and torch.cuda.is_available():
        model = model.cuda()
    x = torch.rand(4, model.config.input_channels, 256, 256,
                   device=next(model.parameters()).device)
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(2):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return min(times) / x.numel()


def reconstruction_pixels(depth: int, height: int, width: int) -> int:
    """Pixels the network sees: every xz and every yz plane (tile overlap ignored)."""
    return depth * width * height * 2


# ------------------------------------------------------------------------------ one training

def progress_printer(label: str):
    """Print a training line every 10 % and each validation."""
    state = {"next": 0.0, "val": ""}

    def on_event(event) -> None:
        if isinstance(event, ValidationResult):
            state["val"] = (f", val PSNR {event.network.psnr:.2f} dB "
                            f"(cubic {event.cubic.psnr:.2f})")
        elif isinstance(event, StepProgress) and event.fraction >= state["next"]:
            log(f"  {label}: step {event.step}/{event.total_steps} "
                f"({100 * event.fraction:.0f} %), loss {event.loss:.4f}{state['val']}, "
                f"{event.steps_per_second:.2f} steps/s")
            state["next"] = event.fraction + 0.1
        elif isinstance(event, TrainingFinished):
            log(f"  {label}: finished ({event.reason}) after {event.step} steps, "
                f"best validation PSNR {event.best_psnr:.2f} dB at step {event.best_step} "
                f"(cubic {event.cubic_psnr:.2f})")

    return on_event


def train_and_reconstruct(label: str, stack: np.ndarray, spacing, plan: TrainingPlan,
                          model_path: Path, rows: slice, cols: slice,
                          device: str) -> tuple[np.ndarray, dict]:
    """Train on the whole anisotropic ``stack``; reconstruct its ``rows`` x ``cols`` crop."""
    ratio = ratio_from_spacing(spacing)
    budget = f"{plan.seconds:.0f} s" if plan.seconds is not None else f"{plan.steps} steps"
    log(f"{label}: training on {stack.shape} ({budget})")
    started = time.perf_counter()
    finished = train_model(stack, ratio=ratio, spacing=spacing, plan=plan, model_path=model_path,
                           on_event=progress_printer(label))
    train_s = time.perf_counter() - started
    crop = np.ascontiguousarray(stack[:, rows, cols])
    log(f"{label}: reconstructing {crop.shape}")
    started = time.perf_counter()
    marks = {"next": 0.0}

    def on_progress(progress) -> None:
        if progress.fraction >= marks["next"]:
            log(f"  {label}: reconstruction {progress.describe()}")
            marks["next"] = progress.fraction + 0.25

    volume = reconstruct_isotropic(crop, finished.model_path, ratio, device=device,
                                   on_progress=on_progress)
    info = {"steps": finished.step, "train_s": round(train_s, 1),
            "reconstruct_s": round(time.perf_counter() - started, 1),
            "validation_psnr": finished.best_psnr, "validation_cubic_psnr": finished.cubic_psnr}
    return volume, info


# ------------------------------------------------------------------------------ the runs

def run_fibsem(args, settings, truth: np.ndarray, seconds_each: float | None,
               figures: Path, workdir: Path) -> dict:
    spacing_iso = 10.0
    rows = central(truth.shape[1], settings["eval_size"])
    cols = central(truth.shape[2], settings["eval_size"])
    results = {}
    for acquisition in (decimate(truth, RATIO), thick_sections(truth, RATIO)):
        key = acquisition.name.replace(" ", "_")
        degradation = DegradationConfig.clean(acquisition.profile)
        plan = TrainingPlan(preset=settings["network"], steps=args.steps, seconds=seconds_each,
                            batch_size=settings["batch"], patch_size=settings["patch"],
                            lr=settings["lr"], device=args.device, seed=args.seed,
                            degradation=degradation)
        spacing = (spacing_iso * RATIO, spacing_iso, spacing_iso)
        a2i, info = train_and_reconstruct(acquisition.name, acquisition.stack, spacing, plan,
                                          workdir / f"{key}.pt", rows, cols, args.device)
        crop = acquisition.stack[:, rows, cols]
        volumes = {m: interpolate_z(crop, RATIO, m, a2i.shape[0]) for m in INTERPOLATIONS}
        volumes["A2I-3DEM"] = a2i.astype(np.float32)
        rec, ref = aligned_truth_planes(acquisition.stack.shape[0], RATIO, acquisition.offset,
                                        truth.shape[0])
        aligned = truth[ref, rows, cols]
        log(f"{acquisition.name}: scoring {len(INTERPOLATIONS) + 1} methods on "
            f"{aligned.shape} voxels (reconstruction planes {rec.start}..{rec.stop - 1} = "
            f"truth planes {ref.start}..{ref.stop - 1})")
        scores = {m: score_volume(aligned, v[rec], spacing_iso, ratio=RATIO)
                  for m, v in volumes.items()}
        no_reference = {m: assess_stack(volumes[m][rec], (spacing_iso,) * 3).to_dict()
                        for m in ("cubic", "A2I-3DEM")}
        no_reference["truth"] = assess_stack(aligned, (spacing_iso,) * 3).to_dict()
        panels, y, z0 = xz_panels(volumes, aligned, rec)
        depth = len(panels["truth"])
        figure = save_comparison_figure(
            figures / f"quality_xz_{key}.png", panels, pixel_nm=spacing_iso,
            title=f"FIB-SEM, {acquisition.name} (rho = {RATIO}): xz plane y = {y} of the "
                  f"evaluated crop, z = {z0}..{z0 + depth - 1}")
        print(format_table(scores), flush=True)
        results[key] = {"acquisition": acquisition.name, "offset": acquisition.offset,
                        "profile": acquisition.profile.to_dict(),
                        "stack_shape": list(acquisition.stack.shape),
                        "scored_shape": list(aligned.shape),
                        "truth_planes": [ref.start, ref.stop], "training": info,
                        "scores": scores, "no_reference": no_reference,
                        "figure": str(figure)}
    return results


def run_real(args, settings, seconds_each: float | None, workdir: Path) -> dict:
    results = {}
    for name in args.real:
        path = args.data / name
        if not path.is_file():
            log(f"{name}: not found in {args.data}, skipped")
            continue
        loaded = read_stack(path)
        stack = np.asarray(loaded.data)
        spacing = loaded.spacing
        if args.crop:
            stack = stack[:, central(stack.shape[1], args.crop), central(stack.shape[2], args.crop)]
        size = settings["real_size"]
        rows, cols = central(stack.shape[1], size), central(stack.shape[2], size)
        ratio = ratio_from_spacing(spacing)
        plan = TrainingPlan(preset=settings["network"], steps=args.steps, seconds=seconds_each,
                            batch_size=settings["batch"],
                            patch_size=min(settings["patch"], *stack.shape[1:]),
                            lr=settings["lr"], device=args.device, seed=args.seed)
        a2i, info = train_and_reconstruct(name, stack, spacing, plan,
                                          workdir / f"{Path(name).stem}.pt", rows, cols,
                                          args.device)
        cubic = interpolate_z(stack[:, rows, cols], ratio, "cubic", a2i.shape[0])
        lateral = (spacing[1] + spacing[2]) / 2
        first, last = longest_intact_run(stack[:, rows, cols])
        planes = slice(int(np.ceil(first * ratio)), int(np.floor(last * ratio)) + 1)
        results[name] = {
            "spacing_nm": list(spacing), "ratio": ratio, "stack_shape": list(stack.shape),
            "assessed_shape": list(a2i[planes].shape), "sections": [first, last],
            "training": info,
            "cubic": assess_stack(cubic[planes], (lateral,) * 3).to_dict(),
            "A2I-3DEM": assess_stack(a2i[planes].astype(np.float32), (lateral,) * 3).to_dict(),
        }
        log(f"{name}: axial / lateral resolution cubic {results[name]['cubic']['anisotropy']:.2f}"
            f", A2I-3DEM {results[name]['A2I-3DEM']['anisotropy']:.2f}")
    return results


def longest_intact_run(stack: np.ndarray) -> tuple[int, int]:
    """First and last section of the longest run without a blank (constant) section.

    A missing section is a dark band across every xz plane; its two sharp edges carry power at
    all axial frequencies, which a resolution estimate would read as axial detail.
    """
    blank = [float(np.ptp(stack[k])) == 0.0 for k in range(stack.shape[0])]
    best, start = (0, -1), None
    for k, is_blank in enumerate([*blank, True]):
        if not is_blank and start is None:
            start = k
        elif is_blank and start is not None:
            if k - 1 - start > best[1] - best[0]:
                best = (start, k - 1)
            start = None
    if best[1] < 0:
        raise ValueError("every section of the stack is blank")
    return best


# ------------------------------------------------------------------------------ report

def markdown_report(payload: dict) -> str:
    s = payload["settings"]
    lines = ["<!-- quality:start -->", "", "### Results", "",
             f"Command: `{s['command']}`  ",
             f"Machine: {s['machine']}; device `{s['device']}` (no GPU was available for these "
             "runs).  ",
             f"Network preset `{s['network']}`, batch {s['batch']}, patch {s['patch']}, "
             f"lr {s['lr']}; budget {s['budget']}; seed {s['seed']}. "
             f"Evaluated on {s['eval']}. Wall time {payload['wall_minutes']:.1f} min.", ""]
    for result in payload["fibsem"].values():
        t = result["training"]
        lines += [f"**FIB-SEM, {result['acquisition']}** (ρ = {RATIO}; training "
                  f"{t['steps']} steps in {t['train_s']:.0f} s, reconstruction "
                  f"{t['reconstruct_s']:.0f} s; scored voxels z × y × x = "
                  f"{' × '.join(map(str, result['scored_shape']))}, truth planes "
                  f"{result['truth_planes'][0]}–{result['truth_planes'][1] - 1})", "",
                  format_table(result["scores"], markdown=True), ""]
        gain = result["scores"]["A2I-3DEM"]["psnr"] - result["scores"]["cubic"]["psnr"]
        dssim = result["scores"]["A2I-3DEM"]["ssim"] - result["scores"]["cubic"]["ssim"]
        lines += [f"A2I-3DEM − cubic: **{gain:+.2f} dB** PSNR, **{dssim:+.4f}** SSIM. "
                  f"No-reference axial / lateral resolution: truth "
                  f"{result['no_reference']['truth']['anisotropy']:.2f}, cubic "
                  f"{result['no_reference']['cubic']['anisotropy']:.2f}, A2I-3DEM "
                  f"{result['no_reference']['A2I-3DEM']['anisotropy']:.2f}.", "",
                  f"![xz plane, {result['acquisition']}](images/"
                  f"{Path(result['figure']).name})", ""]
    lines += [f"Paper (Table I, FIB-SEM, ρ = 3): cubic {PAPER['cubic']:.2f} dB → A2I-3DEM "
              f"{PAPER['A2I-3DEM']:.2f} dB (+{PAPER['A2I-3DEM'] - PAPER['cubic']:.2f} dB), "
              "with the full network trained on a GPU.", ""]
    if payload["real"]:
        lines += ["**Real anisotropic ssTEM stacks** (no truth): no-reference decorrelation "
                  "resolution in nm, lateral (xy planes) versus axial (along z in xz / yz "
                  "planes), on the isotropic grid, over the longest run of sections without a "
                  "blank (missing) one.", "",
                  "| stack | ρ | sections | method | lateral | xz | yz | axial / lateral |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, r in payload["real"].items():
            first, last = r.get("sections", (0, r["stack_shape"][0] - 1))
            for method in ("cubic", "A2I-3DEM"):
                m = r[method]
                lines.append(f"| {name} | {r['ratio']:.1f} | {first}–{last} | {method} | "
                             f"{m['lateral_nm']:.1f} | {m['xz_nm']:.1f} | {m['yz_nm']:.1f} | "
                             f"{m['anisotropy']:.2f} |")
        lines.append("")
    lines.append("<!-- quality:end -->")
    return "\n".join(lines)


def update_markdown(path: Path, section: str,
                    markers: tuple[str, str] = ("<!-- quality:start -->",
                                                "<!-- quality:end -->")) -> None:
    """Replace the section of ``path`` between ``markers`` (append it if absent), atomically."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    start, end = markers
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with atomic_file(path) as handle:
        handle.write(text.encode())


# ------------------------------------------------------------------------------ main

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"folder of the EM volumes (default {DEFAULT_DATA})")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="cpu: tiny network, 128 x 128 evaluation crop; gpu: base, whole volume")
    p.add_argument("--minutes", type=float, default=20.0,
                   help="total time budget; sets the training time of every run (default 20)")
    p.add_argument("--steps", type=int, help="fixed training steps per run (overrides --minutes)")
    p.add_argument("--crop", type=int, help="central crop of every volume (N^3 for the "
                   "FIB-SEM truth, N x N lateral for the ssTEM stacks); for quick checks")
    p.add_argument("--eval-size", type=int, help="lateral size of the evaluated crop "
                   "(default: from the preset)")
    p.add_argument("--real", nargs="*", default=list(REAL_STACKS), metavar="FILE",
                   help="real anisotropic stacks for the no-reference measure ('--real' alone: "
                        "none)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "docs",
                   help="folder of benchmarks.md; figures go to OUT/images (default docs/)")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "quality.json")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all cores on an "
                   "idle machine, 1 when other jobs load it: oversubscribed threads slow "
                   "training down many times)")
    args = p.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be >= 1")
    if args.minutes <= 0:
        p.error("--minutes must be > 0")
    return args


def main(argv=None) -> int:
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if "--blind" in argv_list:  # what a user gets: nothing told (benchmarks/quality_blind.py)
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import quality_blind

        return quality_blind.main(argv_list)
    args = parse_args(argv)
    threads = args.threads or ((os.cpu_count() or 1) if os.getloadavg()[0] < 1.0 else 1)
    torch.set_num_threads(threads)
    log(f"torch threads: {threads} (1-minute load average {os.getloadavg()[0]:.1f})")
    wall = time.perf_counter()
    load_start = os.getloadavg()[0]
    settings = dict(PRESETS[args.preset])
    if args.eval_size is not None:
        settings["eval_size"] = args.eval_size
    truth_path = args.data / FIBSEM
    truth = load_truth(truth_path, args.crop)
    if truth is None:
        print(f"error: {truth_path} not found; give the data folder with --data", file=sys.stderr)
        return 2
    if args.crop:
        settings["eval_size"] = min(settings["eval_size"] or args.crop, args.crop)
        settings["real_size"] = min(settings["real_size"] or args.crop, args.crop)
        settings["patch"] = min(settings["patch"], args.crop)
    figures = args.out / "images"
    models = tempfile.TemporaryDirectory(prefix="a2i3dem-quality-")
    workdir = Path(models.name)

    fib_seconds = real_seconds = None
    if args.steps is None:
        per_pixel = inference_seconds_per_pixel(settings["network"], args.device)
        size = settings["eval_size"] or truth.shape[1]
        pixels = 2 * reconstruction_pixels(truth.shape[0], min(size, truth.shape[1]),
                                           min(size, truth.shape[2]))
        real_size = settings["real_size"] or 625
        pixels += len(args.real) * reconstruction_pixels(250, real_size, real_size)
        reserved = 1.3 * pixels * per_pixel + 30.0 * (2 + len(args.real))
        training = max(0.0, 60.0 * args.minutes - reserved)
        shares = 2 * FIBSEM_SHARE + len(args.real) * REAL_SHARE
        fib_seconds = max(30.0, training * FIBSEM_SHARE / shares)
        real_seconds = max(30.0, training * REAL_SHARE / shares)
        log(f"budget {args.minutes:g} min: about {reserved / 60:.1f} min for reconstruction and "
            f"scoring, training {fib_seconds / 60:.1f} min per FIB-SEM acquisition and "
            f"{real_seconds / 60:.1f} min per real stack")

    fibsem = run_fibsem(args, settings, truth, fib_seconds, figures, workdir)
    real = run_real(args, settings, real_seconds, workdir) if args.real else {}
    eval_size = settings["eval_size"]
    payload = {
        "settings": {
            "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"{torch.get_num_threads()} torch threads, Python "
                       f"{platform.python_version()}, torch {torch.__version__}; 1-minute "
                       f"load average {load_start:.1f} at the start, "
                       f"{os.getloadavg()[0]:.1f} at the end",
            "device": args.device if args.device != "auto" else (
                "cuda" if torch.cuda.is_available() else "cpu"),
            "network": settings["network"], "batch": settings["batch"],
            "patch": settings["patch"], "seed": args.seed,
            "lr": (f"{settings['lr']:g}" if settings["lr"] is not None else
                   f"{TrainConfig(preset=settings['network']).resolved_lr():g} (preset default)"),
            "budget": (f"{args.steps} steps per run" if args.steps is not None
                       else f"{args.minutes:g} min in total"),
            "eval": ("the whole volume" if eval_size is None else
                     f"a central {eval_size} × {eval_size} lateral crop, all aligned planes"),
            "crop": args.crop,
        },
        "fibsem": fibsem, "real": real,
        "wall_minutes": (time.perf_counter() - wall) / 60.0,
    }
    write_json(args.json, payload)
    args.out.mkdir(parents=True, exist_ok=True)
    update_markdown(args.out / "benchmarks.md", markdown_report(payload))
    log(f"done in {payload['wall_minutes']:.1f} min: {args.json}, {args.out / 'benchmarks.md'}")
    models.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
