"""Peers side by side: A2I-3DEM, ECLARE, CSBDeep isotropic CARE and interpolation, same data,
same wall-clock budget, same scorer.

Usage (repository root, project venv; the peers' environments from
``bash benchmarks/peer_runners/setup_envs.sh``)::

    python benchmarks/peers.py                                  # 20 min per method and stack
    python benchmarks/peers.py --minutes 10 --stacks decimation-3 thick-3
    python benchmarks/peers.py --truth my_iso.tif --spacing 8   # any isotropic TIFF as truth
    python benchmarks/peers.py --crop 48 --steps 5 --methods a2i3dem --out /tmp/p  # smoke run

Protocol (docs/benchmarks.md, "Peers side by side"):

1. The isotropic truth (default ``fibsem_medulla_10nm_iso.tif``) is reduced along z exactly as in
   ``benchmarks/quality.py``: *decimation* (every rho-th plane) or *thick sections* (a box one
   spacing thick), rho = 3 or 4.
2. Every learned method trains on that anisotropic stack alone, is told the same slice profile,
   and gets the same wall-clock budget for training plus reconstructing the scored crop
   (``--minutes``). Each runs as a child process of its own virtual environment (the peers are
   never dependencies of the package); its wall, user and system time and peak memory are taken
   from that process. How each fits its budget is written in its runner
   (``benchmarks/peer_runners/``); ECLARE's patch count is set from its measured step time.
3. A peer's output is put on the scoring grid (section k on fine plane ``rho * k``) by the shift
   that best maps its planes back onto the input sections: found from the input alone, never
   from the truth, and reported.
4. Every method is scored on the same voxels with the project's scorer (``core.evaluation``):
   PSNR, SSIM, xz / yz PSNR, the axial Fourier correlation in the band the sampling lost and the
   axial FRC resolution. A peer that cannot run is reported with the reason.

Results: ``benchmarks/results/peers.json``, an xz figure per stack in ``docs/images`` and the
section of ``docs/benchmarks.md`` between ``<!-- peers:start -->`` and ``<!-- peers:end -->``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = ROOT / "benchmarks" / "peer_runners"
DEFAULT_ENVS = Path(os.environ.get("A2I3DEM_PEER_ENVS", ROOT / "benchmarks" / ".peer-envs"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # noqa: E402

from napari_a2i3dem.core.analysis.figures import save_comparison_figure  # noqa: E402
from napari_a2i3dem.core.analysis.scoring import aligned_truth_planes, score_volume  # noqa: E402
from napari_a2i3dem.core.training.timebox import interpolate_z  # noqa: E402

STACKS: dict[str, tuple[Callable, int]] = {
    "decimation-3": (quality.decimate, 3),
    "thick-3": (quality.thick_sections, 3),
    "decimation-4": (quality.decimate, 4),
    "thick-4": (quality.thick_sections, 4),
}
DEFAULT_STACKS = ("decimation-3", "thick-3", "decimation-4")


@dataclass(frozen=True)
class Method:
    """A method and how to run it: a runner script in a virtual environment (None: in-process
    interpolation)."""

    key: str
    title: str
    runner: str | None = None
    env: str | None = None            # None: the project's own interpreter
    # where its output grid puts section k, in fine planes past ratio * k (None: fit it)
    grid_offset: Callable[[float], float] | None = None


METHODS = {
    "cubic": Method("cubic", "cubic"),
    "linear": Method("linear", "linear"),
    "a2i3dem": Method("a2i3dem", "A2I-3DEM", "run_a2i3dem.py", grid_offset=lambda r: 0.0),
    # ECLARE resizes with a cell-centred ("same field of view") grid: section k at
    # ratio * k + (ratio - 1) / 2
    "eclare": Method("eclare", "ECLARE", "run_eclare.py", "eclare",
                     grid_offset=lambda r: (r - 1) / 2),
    # run_csbdeep.py chooses predict's zoom factor so that section k lands on ratio * k
    "csbdeep": Method("csbdeep", "CSBDeep IsotropicCARE", "run_csbdeep.py", "csbdeep",
                      grid_offset=lambda r: 0.0),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------ geometry

def peer_kernel(acquisition: quality.Acquisition, ratio: int) -> np.ndarray:
    """The slice profile on the fine grid, at least three taps (a one-tap kernel is point
    sampling; some peers cannot read a one-element kernel)."""
    kernel = acquisition.profile.kernel_1d(ratio).astype(np.float64)
    if kernel.size < 3:
        kernel = np.pad(kernel, (3 - kernel.size) // 2)
    return kernel / kernel.sum()


def sample_planes(volume: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Planes of ``volume`` at fractional z ``positions`` (linear; clamped at the ends)."""
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0, volume.shape[0] - 1)
    lower = np.minimum(np.floor(positions).astype(int), volume.shape[0] - 2)
    lower = np.maximum(lower, 0)
    upper = np.minimum(lower + 1, volume.shape[0] - 1)
    weight = (positions - lower).astype(np.float32)[:, None, None]
    return (1 - weight) * volume[lower] + weight * volume[upper]


def find_alignment(output: np.ndarray, stack: np.ndarray, ratio: float,
                   step: float = 0.25) -> tuple[float, float]:
    """The z shift ``s`` (fine planes) for which the output's planes ``ratio * k + s`` best
    match the input sections ``k``, and that match's RMS error. Uses the input only, never a
    truth: a method that keeps its input sections has an error near its noise there."""
    best = (0.0, np.inf)
    sections = np.arange(stack.shape[0])
    for shift in np.arange(-ratio, ratio + step / 2, step):
        positions = ratio * sections + shift
        inside = (positions >= 0) & (positions <= output.shape[0] - 1)
        if inside.sum() < max(2, stack.shape[0] // 2):
            continue
        planes = sample_planes(output, positions[inside])
        rms = float(np.sqrt(np.mean((planes - stack[inside]) ** 2)))
        if rms < best[1] - 1e-9:
            best = (float(shift), rms)
    if not np.isfinite(best[1]):
        raise ValueError(f"output of {output.shape[0]} planes cannot cover "
                         f"{stack.shape[0]} sections")
    return best


def to_scoring_grid(output: np.ndarray, shift: float, depth: int) -> np.ndarray:
    """The output resampled so that plane ``j`` is fine plane ``j`` of the scoring grid."""
    if float(shift).is_integer() and shift >= 0 and shift + depth <= output.shape[0]:
        return output[int(shift):int(shift) + depth].astype(np.float32)
    return sample_planes(output, np.arange(depth) + shift).astype(np.float32)


# ------------------------------------------------------------------------------ running

def interpreter(method: Method, envs: Path) -> Path | None:
    """The Python that runs ``method`` (None when its environment is absent)."""
    if method.env is None:
        return Path(sys.executable)
    python = envs / method.env / "bin" / "python"
    return python if python.is_file() else None


def run_child(command: list[str], log_path: Path, timeout: float) -> dict:
    """Run one runner; its wall, user and system seconds and peak RSS (this child only)."""
    started = time.perf_counter()
    with open(log_path, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": process.returncode, "wall_s": round(time.perf_counter() - started, 1),
            "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def last_lines(path: Path, count: int = 3) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return " / ".join(lines[-count:])[-400:]


def run_learned(method: Method, args, stack_path: Path, kernel_path: Path, ratio: int,
                crop: tuple[int, int, int, int], workdir: Path) -> tuple[np.ndarray | None, dict]:
    """One learned method on one stack: (its output on its own grid or None, what happened)."""
    python = interpreter(method, args.envs)
    if python is None:
        reason = (f"not run: its environment {args.envs / method.env} is absent "
                  "(bash benchmarks/peer_runners/setup_envs.sh)")
        log(f"  {method.title}: {reason}")
        return None, {"status": "absent", "reason": reason}
    out, report = workdir / f"{method.key}.npy", workdir / f"{method.key}.json"
    command = [str(python), str(RUNNERS / method.runner), "--stack", str(stack_path),
               "--ratio", str(ratio), "--spacing", str(args.spacing),
               "--profile", str(kernel_path),
               "--crop", *map(str, crop), "--seconds", str(60.0 * args.minutes),
               "--out", str(out), "--report", str(report)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if method.key == "a2i3dem":
        command += ["--preset", args.preset]
        if args.steps is not None:
            command += ["--steps", str(args.steps)]
    log(f"  {method.title}: running ({args.minutes:g} min budget)")
    child_log = workdir / f"{method.key}.log"
    measured = run_child(command, child_log, timeout=max(120.0, 60.0 * args.minutes * 3))
    if measured["returncode"] != 0 or not out.is_file():
        reason = f"failed (exit {measured['returncode']}): {last_lines(child_log)}"
        log(f"  {method.title}: {reason}")
        return None, {"status": "failed", "reason": reason, **measured}
    details = json.loads(report.read_text()) if report.is_file() else {}
    log(f"  {method.title}: done in {measured['wall_s']:.0f} s, peak RSS "
        f"{measured['peak_rss_mb']:.0f} MB")
    return np.load(out), {"status": "ok", **measured, "details": details}


def alignment(method: Method, output: np.ndarray, stack: np.ndarray, ratio: float) -> dict:
    """How a method's output is put on the scoring grid: its declared grid offset when it has
    one (the fit is still reported as a check), else the shift fitted to the input sections."""
    fitted, rms = find_alignment(output, stack, ratio)
    declared = None if method.grid_offset is None else float(method.grid_offset(ratio))
    return {"shift_planes": fitted if declared is None else declared,
            "fitted_shift_planes": fitted, "fitted_section_rms": round(rms, 3),
            "declared": declared is not None, "own_grid_planes": int(output.shape[0])}


def run_stack(name: str, args, truth: np.ndarray, workdir: Path,
              previous: dict | None = None) -> dict:
    """Every method on one anisotropic stack, scored on the same voxels (``previous``: the
    runs of an earlier call whose kept outputs are only scored again)."""
    previous = previous or {}
    make, ratio = STACKS[name]
    acquisition = make(truth, ratio)
    stack = acquisition.stack
    rows = quality.central(stack.shape[1], args.eval_size)
    cols = quality.central(stack.shape[2], args.eval_size)
    crop = (rows.start, rows.stop, cols.start, cols.stop)
    depth = round(ratio * (stack.shape[0] - 1)) + 1
    here = workdir / name
    here.mkdir(exist_ok=args.rescore)
    stack_path, kernel_path = here / "stack.npy", here / "profile.npy"
    np.save(stack_path, stack)
    np.save(kernel_path, peer_kernel(acquisition, ratio))
    rec, ref = aligned_truth_planes(stack.shape[0], ratio, acquisition.offset, truth.shape[0])
    aligned = truth[ref, rows, cols].astype(np.float32)
    log(f"{name}: stack {stack.shape}, scoring {aligned.shape} voxels "
        f"(truth planes {ref.start}..{ref.stop - 1})")
    small = np.ascontiguousarray(stack[:, rows, cols])
    volumes, runs = {}, {}
    for key in args.methods:
        method = METHODS[key]
        if method.runner is None:
            started = time.perf_counter()
            volumes[method.title] = interpolate_z(small, ratio, key, depth)
            runs[method.title] = {"status": "ok",
                                  "wall_s": round(time.perf_counter() - started, 1)}
            continue
        if args.rescore:
            run = dict(previous.get(method.title, {"status": "absent"}))
            path = here / f"{method.key}.npy"
            output = np.load(path) if run.get("status") == "ok" and path.is_file() else None
        else:
            output, run = run_learned(method, args, stack_path, kernel_path, ratio, crop, here)
        if output is not None:
            run["alignment"] = alignment(method, output, small, ratio)
            volumes[method.title] = to_scoring_grid(output, run["alignment"]["shift_planes"],
                                                    depth)
        runs[method.title] = run
    scores = {title: score_volume(aligned, volume[rec], args.spacing, ratio=ratio)
              for title, volume in volumes.items()}
    panels, y, z0 = quality.xz_panels(volumes, aligned, rec)
    span = len(panels["truth"])
    figure = save_comparison_figure(
        args.out / "images" / f"peers_xz_{name}.png", panels, pixel_nm=args.spacing,
        title=f"{name} (rho = {ratio}): xz plane y = {y} of the scored crop, "
              f"z = {z0}..{z0 + span - 1}")
    return {"ratio": ratio, "acquisition": acquisition.name, "offset": acquisition.offset,
            "stack_shape": list(stack.shape), "scored_shape": list(aligned.shape),
            "truth_planes": [ref.start, ref.stop], "scores": scores, "runs": runs,
            "figure": str(figure)}


# ------------------------------------------------------------------------------ report

def _training_done(run: dict) -> str:
    d = run.get("details", {})
    if "patches" in d:
        return f"{d['steps']} steps × {d['batch']} patches"
    if "steps" in d:
        return f"{d['steps']} steps × {d.get('batch', '?')}"
    return "–"


def _shift_text(alignment: dict | None) -> str:
    """``+1`` (declared, the fit agreeing) or ``+1 (fit +1.75)``; ``–`` for interpolation."""
    if not alignment:
        return "–"
    shift = alignment["shift_planes"]
    fitted = alignment.get("fitted_shift_planes", shift)
    text = f"{shift:+g}"
    return text if abs(fitted - shift) < 1e-9 else f"{text} (fit {fitted:+g})"


def markdown_tables(payload: dict) -> str:
    """The Table-I-style summary (PSNR / SSIM per stack) and one detail table per stack."""
    stacks = payload["stacks"]
    methods: list[str] = []
    for result in stacks.values():
        methods += [m for m in result["runs"] if m not in methods]
    header = ["method", *[f"{name} PSNR / SSIM" for name in stacks]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        cells = [method]
        for result in stacks.values():
            score = result["scores"].get(method)
            run = result["runs"].get(method, {})
            if score is None:
                cells.append(f"not run ({run.get('status', 'absent')})")
                continue
            cubic = result["scores"].get("cubic")
            gain = "" if cubic is None or method == "cubic" else \
                f" ({score['psnr'] - cubic['psnr']:+.2f})"
            cells.append(f"{score['psnr']:.2f}{gain} / {score['ssim']:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    for name, result in stacks.items():
        lines += ["", f"**{name}** (ρ = {result['ratio']}; scored voxels z × y × x = "
                  f"{' × '.join(map(str, result['scored_shape']))}, truth planes "
                  f"{result['truth_planes'][0]}–{result['truth_planes'][1] - 1})", "",
                  "| method | PSNR | SSIM | xz PSNR | yz PSNR | FRC in lost band | axial FRC (nm) "
                  "| training done | wall (s) | user / sys (s) | peak RSS (MB) | z shift |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for method in methods:
            run = result["runs"].get(method, {"status": "absent"})
            score = result["scores"].get(method)
            if score is None:
                lines.append(f"| {method} | {run.get('reason', run['status'])} |" + " |" * 11)
                continue
            shift = _shift_text(run.get("alignment"))
            lines.append(
                f"| {method} | {score['psnr']:.2f} | {score['ssim']:.4f} | "
                f"{score['psnr_xz']:.2f} | {score['psnr_yz']:.2f} | "
                f"{score.get('frc_lost', float('nan')):.3f} | {score['frc_z_nm']:.1f} | "
                f"{_training_done(run)} | {run.get('wall_s', 0):.0f} | "
                + (f"{run['user_s']:.0f} / {run['system_s']:.0f}" if "user_s" in run else "–")
                + f" | {run.get('peak_rss_mb', '–')} | {shift} |")
        lines += ["", f"![xz plane, {name}](images/{Path(result['figure']).name})"]
    return "\n".join(lines)


def report_section(payload: dict) -> str:
    s = payload["settings"]
    return "\n".join([
        "<!-- peers:start -->", "", "### Results", "",
        f"Command: `{s['command']}`  ",
        f"Machine: {s['machine']}. Budget {s['minutes']:g} min of wall time per learned method "
        f"and stack (training + reconstructing the scored crop). Scored on {s['eval']}. "
        f"Wall time of the whole run {payload['wall_minutes']:.0f} min.", "",
        "PSNR (gain over cubic) / SSIM:", "", markdown_tables(payload), "",
        "<!-- peers:end -->"])


# ------------------------------------------------------------------------------ main

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=quality.DEFAULT_DATA)
    p.add_argument("--truth", type=Path, help="an isotropic TIFF to use as truth "
                   f"(default DATA/{quality.FIBSEM})")
    p.add_argument("--spacing", type=float, default=10.0, help="truth voxel size in nm")
    p.add_argument("--stacks", nargs="+", choices=sorted(STACKS), default=list(DEFAULT_STACKS))
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument("--minutes", type=float, default=20.0,
                   help="wall-clock budget of each learned method on each stack (default 20)")
    p.add_argument("--steps", type=int, help="fixed A2I-3DEM steps (smoke runs)")
    p.add_argument("--preset", choices=sorted(quality.PRESETS), default="cpu")
    p.add_argument("--crop", type=int, help="central N^3 crop of the truth (quick checks)")
    p.add_argument("--eval-size", type=int, default=128, help="lateral size of the scored crop")
    p.add_argument("--envs", type=Path, default=DEFAULT_ENVS,
                   help=f"folder of the peers' virtual environments (default {DEFAULT_ENVS})")
    p.add_argument("--threads", type=int, help="CPU threads of every method (default: all)")
    p.add_argument("--keep", type=Path, help="keep every method's output and log in this "
                   "folder (default: a temporary folder, removed at the end)")
    p.add_argument("--rescore", action="store_true", help="score the outputs kept in --keep "
                   "again (with the runs' measurements from --json) instead of running")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "peers.json")
    args = p.parse_args(argv)
    if args.minutes <= 0:
        p.error("--minutes must be > 0")
    args.methods = list(dict.fromkeys(["cubic", *args.methods]))   # cubic: every gain's base
    if args.rescore and (args.keep is None or not args.json.is_file()):
        p.error("--rescore needs --keep DIR and the --json file of that run")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    truth_path = args.truth or args.data / quality.FIBSEM
    truth = quality.load_truth(truth_path, args.crop)
    if truth is None:
        print(f"error: {truth_path} not found; give --data or --truth", file=sys.stderr)
        return 2
    if args.crop:
        args.eval_size = min(args.eval_size, args.crop)
    wall = time.perf_counter()
    load = os.getloadavg()[0]
    earlier = json.loads(args.json.read_text()) if args.rescore else None
    with contextlib.ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir = args.keep
        else:
            workdir = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="a2i3dem-peers-")))
        stacks = {name: run_stack(name, args, truth, workdir,
                                  earlier["stacks"][name]["runs"] if earlier else None)
                  for name in args.stacks}
    if earlier is not None:   # the runs' own settings and wall time stay those of the run
        payload = {**earlier, "stacks": {**earlier["stacks"], **stacks}}
        payload["settings"]["rescored"] = "scores recomputed from the kept outputs"
        quality.write_json(args.json, payload)
        quality.update_markdown(args.out / "benchmarks.md", report_section(payload),
                                markers=("<!-- peers:start -->", "<!-- peers:end -->"))
        print(markdown_tables(payload), flush=True)
        return 0
    payload = {
        "settings": {
            "command": "python benchmarks/peers.py " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}; 1-minute load {load:.1f} at the start, "
                       f"{os.getloadavg()[0]:.1f} at the end",
            "minutes": args.minutes, "truth": str(truth_path), "spacing_nm": args.spacing,
            "eval": f"a central {args.eval_size} × {args.eval_size} lateral crop, all aligned "
                    "planes",
            "preset": args.preset,
        },
        "stacks": stacks, "wall_minutes": (time.perf_counter() - wall) / 60.0,
    }
    quality.write_json(args.json, payload)
    args.out.mkdir(parents=True, exist_ok=True)
    quality.update_markdown(args.out / "benchmarks.md", report_section(payload),
                            markers=("<!-- peers:start -->", "<!-- peers:end -->"))
    print(markdown_tables(payload), flush=True)
    log(f"done in {payload['wall_minutes']:.1f} min: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
