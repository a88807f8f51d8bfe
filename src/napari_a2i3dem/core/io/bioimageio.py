"""BioImage Model Zoo packages (bioimage.io model spec 0.5) of the per-plane network, both ways.

:func:`export_bioimageio` writes a ``.zip`` package of the **2-D plane network**: the input is a
cubic-upsampled axial (xz or yz) plane in stack intensity units, ``(batch, channel, y, x)``; the
declared pre-processing scales it to network units exactly as
:class:`~napari_a2i3dem.core.normalization.IntensityScale` does, the post-processing scales back.
Weights are a PyTorch state dict with our architecture callable
(:func:`bioimageio_network`); test tensors are a real plane of the stack the caller gives (the
training stack) and the network's answer; the model's ratio, spacing, degradation and training
record travel in ``config.a2i3dem``. The whole reconstruction (cubic up-sampling along z, the
network on every xz and every yz plane, the mean of both passes) is this package's pipeline, not
the package itself: see ``docs/bioimageio.md``.

:func:`load_bioimageio` reads such a package back (weights only, no pickle) as a
:class:`~napari_a2i3dem.core.model.LoadedModel`, so ``a2i3dem reconstruct --model x.zip`` and the
Reconstruct widget run a model a colleague shared. ``bioimageio.spec`` is an optional extra
(``pip install 'napari-a2i3dem[bioimageio]'``).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError

EXTRA_HINT = "install the optional extra: pip install 'napari-a2i3dem[bioimageio]'"
PACKAGE_SUFFIXES = (".zip",)
CONFIG_KEY = "a2i3dem"
PAPER = ("Khateri M, Ghahremani M, Sierra A, Tohka J. Self-Supervised Super-Resolution Approach "
         "for Isotropic Reconstruction of 3D Electron Microscopy Images from Anisotropic "
         "Acquisition. arXiv:2309.10646 (2023)")
PAPER_URL = "https://arxiv.org/abs/2309.10646"
HALO = 16


def bioimageio_network(**network):
    """The architecture callable a package names: our network from its config's fields, called
    with the package's inputs in order (the plane, then the section map where it has one)."""
    from ..model import A2I3DEMNet, NetworkConfig

    class PackagedNetwork(A2I3DEMNet):
        """The same weights (same state dict keys), one tensor per package input."""

        def forward(self, plane: torch.Tensor, sections: torch.Tensor | None = None
                    ) -> torch.Tensor:
            if sections is not None:
                plane = torch.cat([plane, sections.to(plane.dtype)], dim=1)
            return super().forward(plane)

    return PackagedNetwork(NetworkConfig.from_dict(network))


def is_bioimageio_package(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(PACKAGE_SUFFIXES)


def _spec():
    try:
        import bioimageio.spec  # noqa: F401
        from bioimageio.spec.model import v0_5
    except ImportError as exc:
        raise InputError(f"BioImage Model Zoo packages need bioimageio.spec; {EXTRA_HINT}") from exc
    return v0_5


def test_plane(stack: np.ndarray, ratio: float, size: int) -> tuple[np.ndarray, int]:
    """A ``size`` x ``size`` crop of the middle xz plane of ``stack`` after cubic up-sampling
    (stack units, float32): what the network gets in a reconstruction; and the fine z of its
    first row."""
    from ..physics.acquisition import interpolation_matrix, isotropic_length

    depth_in, height = int(stack.shape[0]), int(stack.shape[1])
    depth = isotropic_length(depth_in, ratio)
    row = np.asarray(stack[:, height // 2, :], dtype=np.float32)
    plane = interpolation_matrix(depth_in, ratio, depth).astype(np.float32) @ row
    if plane.shape[0] < size or plane.shape[1] < size:
        raise InputError(f"the stack's xz plane {plane.shape} is smaller than the {size}-pixel "
                         "test tile; use a larger stack")
    top, left = (plane.shape[0] - size) // 2, (plane.shape[1] - size) // 2
    return np.ascontiguousarray(plane[top:top + size, left:left + size]), top


def _sections_documentation(loaded) -> str:
    if not loaded.network_config.section_input:
        return ""
    return f"""
A second input, `sections`, tells the network where the acquired sections lie along the
plane's z (its y axis, same size as the plane): `1 - 2 |z / rho - round(z / rho)|` for fine z
(rho = {loaded.ratio:.4g}), so 1 on each section and 0 halfway between two. z counts from the
first section of the stack: a plane cut from the up-sampled volume at row `z0` starts at
`z = z0`.
"""


def _documentation(loaded, name: str) -> str:
    spacing = " x ".join(f"{v:g}" for v in loaded.spacing)
    return f"""# {name}

A2I-3DEM plane network trained on one anisotropic EM stack (spacing {spacing} nm, ratio
rho = {loaded.ratio:.4g}) by napari-a2i3dem, self-supervised from the stack's own xy planes.

## What this package is

The **2-D network** that restores one axial plane. Input: an xz or yz plane of the stack after
cubic up-sampling along z by rho, in the stack's intensity units, axes (batch, channel, y, x), any
size that is a multiple of the declared step (the network pads internally otherwise). The declared
pre-processing maps intensities to network units; the post-processing maps them back.
{_sections_documentation(loaded)}
## The full isotropic reconstruction

1. Up-sample the stack along z by rho with cubic interpolation (Keys kernel, a = -0.5).
2. Run this network on every xz plane and, separately, on every yz plane of that volume
   (tiles of 256 with 32 px overlap and smooth blending for large planes).
3. Average the two results.

napari-a2i3dem does all three (`a2i3dem reconstruct STACK --model this.zip`).

The training degradation, intensity scale and record are in `config.{CONFIG_KEY}`.
"""


def export_bioimageio(model_path: str | os.PathLike, out: str | os.PathLike, stack: np.ndarray,
                      *, name: str | None = None, author: str = "napari-a2i3dem user") -> Path:
    """Write the package for ``model_path`` to ``out`` (a ``.zip``) atomically; test tensors come
    from ``stack`` (its training stack). Returns ``out``."""
    from ..model import load_model
    from ..model.inputs import plane_input, wants_section_map
    from ..normalization import IntensityScale

    v0_5 = _spec()
    from bioimageio.spec import save_bioimageio_package

    out = Path(out)
    if not is_bioimageio_package(out):
        raise InputError(f"the package {out} must end in .zip")
    if not out.parent.is_dir():
        raise InputError(f"the folder {out.parent} does not exist")
    loaded = load_model(model_path)
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise InputError(f"the test stack must be 3-D (z, y, x), got shape {stack.shape}")
    net = loaded.model.eval()
    multiple = int(loaded.network_config.size_multiple)
    minimum = multiple * -(-(2 * HALO + 1) // multiple)  # room for the halo on both sides
    size = max(minimum, 64 // multiple * multiple)
    scale = IntensityScale.from_dict(loaded.intensity)
    plane, top = test_plane(stack, loaded.ratio, size)
    network_input = plane_input(scale.normalize(plane), net, loaded.ratio, top)
    with torch.no_grad():
        predicted = net(network_input).numpy()
    answer = scale.denormalize(predicted).astype(np.float32)
    name = name or f"A2I-3DEM rho {loaded.ratio:.3g} {Path(model_path).stem}"[:128]
    gain, offset = 1.0 / (scale.high - scale.low), -scale.low / (scale.high - scale.low)

    with tempfile.TemporaryDirectory(prefix=".a2i3dem-bmz-", dir=out.parent) as tmp:
        folder = Path(tmp)
        np.save(folder / "test_input.npy", plane[None, None])
        inputs = []
        if wants_section_map(net):
            np.save(folder / "test_sections.npy", network_input[:, 1:].numpy())
            inputs.append(_sections_descr(v0_5, folder))
        np.save(folder / "test_output.npy", answer)
        torch.save(net.state_dict(), folder / "weights.pt")
        (folder / "README.md").write_text(_documentation(loaded, name))
        _cover(folder / "cover.png", plane, answer[0, 0])
        axes_in = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=[v0_5.Identifier("em")]),
                   v0_5.SpaceInputAxis(id=v0_5.AxisId("y"),
                                       size=v0_5.ParameterizedSize(min=minimum, step=multiple)),
                   v0_5.SpaceInputAxis(id=v0_5.AxisId("x"),
                                       size=v0_5.ParameterizedSize(min=minimum, step=multiple))]
        same = {axis: v0_5.SizeReference(tensor_id=v0_5.TensorId("input"),
                                         axis_id=v0_5.AxisId(axis)) for axis in "yx"}
        axes_out = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=[v0_5.Identifier("em")]),
                    v0_5.SpaceOutputAxisWithHalo(id=v0_5.AxisId("y"), size=same["y"], halo=HALO),
                    v0_5.SpaceOutputAxisWithHalo(id=v0_5.AxisId("x"), size=same["x"], halo=HALO)]
        linear = v0_5.ScaleLinearDescr
        record = {"ratio": float(loaded.ratio), "spacing_nm": list(loaded.spacing),
                  "degradation": loaded.degradation, "intensity": loaded.intensity,
                  "network": loaded.network_config.to_dict(),
                  "training": json.loads(json.dumps(loaded.extra or {}, default=str)),
                  "format_version": loaded.version}
        descr = v0_5.ModelDescr(
            name=name,
            description=(f"Self-supervised A2I-3DEM plane network for isotropic reconstruction of "
                         f"anisotropic EM (rho {loaded.ratio:.4g}); input: a cubic-upsampled axial "
                         "plane")[:1024],
            authors=[v0_5.Author(name=author)],
            cite=[v0_5.CiteEntry(text=PAPER, url=v0_5.HttpUrl(PAPER_URL))],
            license=v0_5.LicenseId("BSD-3-Clause"),
            documentation=v0_5.FileDescr(source=folder / "README.md"),
            covers=[v0_5.FileDescr(source=folder / "cover.png")],
            tags=["electron-microscopy", "isotropic-reconstruction", "super-resolution",
                  "self-supervised", "2d", "a2i3dem"],
            inputs=[v0_5.InputTensorDescr(
                id=v0_5.TensorId("input"), axes=axes_in,
                description="cubic-upsampled axial plane, stack intensity units",
                test_tensor=v0_5.FileDescr(source=folder / "test_input.npy"),
                preprocessing=[linear(kwargs=v0_5.ScaleLinearKwargs(gain=gain, offset=offset))]),
                *inputs],
            outputs=[v0_5.OutputTensorDescr(
                id=v0_5.TensorId("output"), axes=axes_out,
                description="restored axial plane, stack intensity units",
                test_tensor=v0_5.FileDescr(source=folder / "test_output.npy"),
                postprocessing=[linear(kwargs=v0_5.ScaleLinearKwargs(
                    gain=scale.high - scale.low, offset=scale.low))])],
            weights=v0_5.WeightsDescr(pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
                source=folder / "weights.pt",
                architecture=v0_5.ArchitectureFromLibraryDescr(
                    callable=v0_5.Identifier("bioimageio_network"),
                    import_from="napari_a2i3dem.core.io.bioimageio",
                    kwargs=loaded.network_config.to_dict()),
                pytorch_version=v0_5.Version(torch.__version__.split("+")[0]))),
            config={CONFIG_KEY: record},
        )
        partial = folder / "package.zip"
        save_bioimageio_package(descr, output_path=partial)
        os.replace(partial, out)
    return out


def _sections_descr(v0_5, folder: Path):
    """The package's second input: the plane's section map, same size as the plane."""
    same = {axis: v0_5.SizeReference(tensor_id=v0_5.TensorId("input"), axis_id=v0_5.AxisId(axis))
            for axis in "yx"}
    axes = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=[v0_5.Identifier("sections")]),
            v0_5.SpaceInputAxis(id=v0_5.AxisId("y"), size=same["y"]),
            v0_5.SpaceInputAxis(id=v0_5.AxisId("x"), size=same["x"])]
    return v0_5.InputTensorDescr(
        id=v0_5.TensorId("sections"), axes=axes,
        description="section map along y: 1 on an acquired section, 0 halfway between two",
        test_tensor=v0_5.FileDescr(source=folder / "test_sections.npy"))


def _cover(path: Path, plane: np.ndarray, answer: np.ndarray) -> None:
    """input | output side by side, 8-bit PNG."""
    from matplotlib.image import imsave

    low, high = np.percentile(plane, (0.5, 99.5))
    pair = np.concatenate([plane, np.full((plane.shape[0], 4), high), answer], axis=1)
    imsave(path, np.clip((pair - low) / max(high - low, 1e-6), 0, 1), cmap="gray")


def load_bioimageio(path: str | os.PathLike):
    """A :class:`~napari_a2i3dem.core.model.LoadedModel` from a package written by
    :func:`export_bioimageio` (weights only; one clear line for anything else)."""
    from ..model import A2I3DEMNet, LoadedModel, NetworkConfig

    _spec()
    from bioimageio.spec import load_model_description

    path = Path(path)
    if not path.is_file():
        raise InputError(f"the package {path} does not exist")
    try:
        descr = load_model_description(path, perform_io_checks=False)
    except Exception as exc:  # bioimageio raises many kinds for a damaged archive
        raise InputError(f"{path.name} is not a readable BioImage Model Zoo package: "
                         f"{str(exc).splitlines()[0]}") from exc
    if not hasattr(descr, "weights"):
        raise InputError(f"{path.name} is not a valid BioImage Model Zoo model package")
    record = (getattr(descr.config, CONFIG_KEY, None)
              or (descr.config.model_extra or {}).get(CONFIG_KEY))
    weights = descr.weights.pytorch_state_dict
    if record is None or weights is None:
        raise InputError(f"{path.name} is a BioImage Model Zoo package of another network, not "
                         "an A2I-3DEM plane network")
    axes = [str(axis.id) for axis in descr.inputs[0].axes]
    if axes != ["batch", "channel", "y", "x"]:
        raise InputError(f"{path.name}: the input axes {axes} are not (batch, channel, y, x)")
    try:
        config = NetworkConfig.from_dict(dict(record["network"]))
        net = A2I3DEMNet(config)
        data = io.BytesIO(weights.get_reader().read())  # checked against its sha256
        state = torch.load(data, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path.name}: the weights do not fit the A2I-3DEM network: "
                         f"{str(exc).splitlines()[0]}") from exc
    return LoadedModel(model=net.eval(), network_config=config,
                       degradation=dict(record.get("degradation") or {}),
                       spacing=tuple(float(v) for v in record["spacing_nm"]),
                       ratio=float(record["ratio"]), intensity=dict(record["intensity"]),
                       version=str(record.get("format_version", "")),
                       extra=dict(record.get("training") or {}), path=path)
