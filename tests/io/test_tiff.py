"""Reading and writing TIFF stacks: spacing in nm from every kind of metadata, lazy opening,
atomic protected writes and a clear error for every bad input."""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_a2i3dem.core.errors import Cancelled, InputError, StackReadError
from napari_a2i3dem.core.io import tiff as io
from napari_a2i3dem.core.io import tiff_writer
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.io.tiff_spacing import resolve_spacing
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.io.units import inverse_rational, nm_per_unit


def volume(shape=(6, 40, 32), dtype=np.uint8, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 20, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 5000), size=shape).astype(dtype)


def assert_spacing(found, expected, rel=1e-6):
    assert found is not None
    assert np.allclose(found, expected, rtol=rel, atol=0), (found, expected)


def pixel_bytes_read(monkeypatch) -> list[int]:
    """Record the bytes of pixel data tifffile reads from files (contiguous and segmented)."""
    record: list[int] = []
    read_array = tifffile.FileHandle.read_array
    read_segments = tifffile.FileHandle.read_segments

    def spy_array(self, dtype, count=-1, **kwargs):
        out = read_array(self, dtype, count, **kwargs)
        record.append(int(out.nbytes))
        return out

    def spy_segments(self, offsets, bytecounts, *args, **kwargs):
        record.append(int(sum(bytecounts)))
        return read_segments(self, offsets, bytecounts, *args, **kwargs)

    monkeypatch.setattr(tifffile.FileHandle, "read_array", spy_array)
    monkeypatch.setattr(tifffile.FileHandle, "read_segments", spy_segments)
    return record


# ------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
@pytest.mark.parametrize("spacing", [(45.0, 15.0, 15.0), (50.0, 4.6, 4.6), (29.37, 3.7813, 3.9),
                                     (40000.0, 2500.0, 2000.5)])
def test_imagej_round_trip_keeps_data_and_spacing(tmp_path, dtype, spacing):
    data = volume(dtype=dtype)
    path = write_stack(tmp_path / "stack.tif", data, spacing)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej  # what Fiji reads: ImageJ header with unit + spacing, px per unit
        meta = tif.imagej_metadata
        assert meta["slices"] == data.shape[0] and "channels" not in meta
        assert meta["unit"] in ("nm", "micron")
    loaded = read_stack(path)
    assert loaded.spacing_source == "imagej"
    assert_spacing(loaded.spacing, spacing)
    assert loaded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.data, data)


def test_imagej_header_is_what_imagej_expects(tmp_path):
    path = write_stack(tmp_path / "s.tif", volume(), (45.0, 15.0, 15.0))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        description = page.tags["ImageDescription"].value
        assert description.startswith("ImageJ=")
        assert "spacing=45.0" in description and "unit=nm" in description
        assert page.tags["XResolution"].value == (1, 15)  # 1/15 pixel per nm, exact
        assert page.tags["ResolutionUnit"].value == 1  # ImageJ: the unit is in the header


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint32, np.int8, np.int64])
def test_types_imagej_cannot_hold_are_written_as_ome_tiff(tmp_path, dtype):
    data = volume(dtype=dtype)
    path = write_stack(tmp_path / "stack.tif", data, (33.3, 4.4, 4.5))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and not tif.is_imagej
    loaded = read_stack(path)
    assert loaded.spacing_source == "ome"
    assert_spacing(loaded.spacing, (33.3, 4.4, 4.5))
    np.testing.assert_array_equal(loaded.data, data)


def test_two_dimensional_image_round_trip(tmp_path):
    image = volume(shape=(30, 20))
    loaded = read_stack(write_stack(tmp_path / "plane.tif", image, (1.0, 7.5, 7.5)))
    np.testing.assert_array_equal(loaded.data, image)
    assert loaded.lateral_spacing == pytest.approx((7.5, 7.5))


def test_write_without_spacing_reads_back_as_unknown(tmp_path):
    loaded = read_stack(write_stack(tmp_path / "s.tif", volume(), None))
    assert loaded.spacing is None and loaded.lateral_spacing is None
    assert any("no voxel spacing" in note for note in loaded.notes)


# ------------------------------------------------------------------------------ metadata kinds

@pytest.mark.parametrize(("unit", "scale"), [
    ("nm", 1.0), ("micron", 1e3), ("um", 1e3), ("\\u00B5m", 1e3), ("mm", 1e6),
    ("cm", 1e7), ("m", 1e9), ("inch", 2.54e7),
])
def test_imagej_units_convert_to_nm(tmp_path, unit, scale):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, volume(), imagej=True, resolution=(1 / 0.004, 1 / 0.005),
                     metadata={"axes": "ZYX", "spacing": 0.05, "unit": unit})
    loaded = read_stack(path)
    assert_spacing(loaded.spacing, (0.05 * scale, 0.005 * scale, 0.004 * scale))


def test_imagej_pixel_unit_means_unknown_spacing(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, volume(), imagej=True, metadata={"axes": "ZYX", "unit": "pixel"})
    assert read_stack(path).spacing is None


def test_imagej_without_spacing_entry_uses_one_unit_like_imagej(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, volume(), imagej=True, resolution=(0.2, 0.2),
                     metadata={"axes": "ZYX", "unit": "nm"})
    loaded = read_stack(path)
    assert_spacing(loaded.spacing, (1.0, 5.0, 5.0))
    assert any("no 'spacing' entry" in note for note in loaded.notes)


@pytest.mark.parametrize(("unit", "scale"), [("nm", 1.0), ("µm", 1e3), ("mm", 1e6),
                                             ("Å", 0.1)])
def test_ome_physical_sizes_with_units(tmp_path, unit, scale):
    path = tmp_path / "ome.ome.tif"
    tifffile.imwrite(path, volume(), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 4.0, "PhysicalSizeXUnit": unit,
        "PhysicalSizeY": 5.0, "PhysicalSizeYUnit": unit,
        "PhysicalSizeZ": 40.0, "PhysicalSizeZUnit": unit})
    loaded = read_stack(path)
    assert loaded.spacing_source == "ome"
    assert_spacing(loaded.spacing, (40.0 * scale, 5.0 * scale, 4.0 * scale))


def test_ome_default_unit_is_micrometre_and_missing_z_is_unknown(tmp_path):
    path = tmp_path / "ome.ome.tif"
    tifffile.imwrite(path, volume(), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.004, "PhysicalSizeY": 0.004})
    loaded = read_stack(path)
    assert loaded.spacing is None
    assert loaded.lateral_spacing == pytest.approx((4.0, 4.0))
    assert any("PhysicalSizeZ" in note for note in loaded.notes)


@pytest.mark.parametrize(("unit", "resolution", "expected_nm"), [
    ("CENTIMETER", 2_000_000.0, 5.0),       # 2e6 px/cm -> 5 nm
    ("INCH", 2.54e7 / 8.0, 8.0),            # 8 nm
    ("MILLIMETER", 1e5, 10.0),              # 10 nm
    ("MICROMETER", 250.0, 4.0),             # 4 nm
])
def test_plain_tiff_resolution_gives_lateral_spacing(tmp_path, unit, resolution, expected_nm):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, volume(), resolution=(resolution, resolution), resolutionunit=unit)
    loaded = read_stack(path)
    assert loaded.spacing is None  # z is not in plain TIFF tags
    assert loaded.spacing_source == "tiff-resolution"
    assert loaded.lateral_spacing == pytest.approx((expected_nm, expected_nm), rel=1e-6)
    assert resolve_spacing(loaded, ratio=5.0) == pytest.approx(
        (5 * expected_nm, expected_nm, expected_nm))


@pytest.mark.parametrize("dpi", [72.0, 96.0])
def test_default_screen_dpi_is_not_taken_as_a_calibration(tmp_path, dpi):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, volume(), resolution=(dpi, dpi), resolutionunit="INCH")
    loaded = read_stack(path)
    assert loaded.lateral_spacing is None
    assert any("dpi" in note for note in loaded.notes)


@pytest.mark.parametrize(("unit", "nm"), [
    ("nm", 1.0), ("nanometers", 1.0), ("micron", 1e3), ("microns", 1e3), ("µm", 1e3),
    ("μm", 1e3), ("um", 1e3), ("\\u00B5m", 1e3), ("mm", 1e6), ("cm", 1e7), ("m", 1e9),
    ("inch", 2.54e7), ("inches", 2.54e7), ("Å", 0.1), ("pixel", None), ("", None),
    ("furlong", None), (None, None),
])
def test_unit_names(unit, nm):
    assert nm_per_unit(unit) == nm


@pytest.mark.parametrize("spacing", [15.0, 4.6, 3.7813, 0.5, 1234.5678, 4000.0])
def test_spacing_is_stored_as_an_accurate_rational(spacing):
    numerator, denominator = inverse_rational(spacing)
    assert 0 < numerator < 2**32 and 0 < denominator < 2**32
    assert denominator / numerator == pytest.approx(spacing, rel=1e-6)


def test_real_sstem_stack_has_its_documented_spacing(shared_data):
    loaded = read_stack(shared_data / "sstem_vnc_stack1.tif", lazy=True)
    assert loaded.shape == (20, 1024, 1024)
    assert_spacing(loaded.spacing, (50.0, 4.6, 4.6))
    assert loaded.ratio == pytest.approx(50 / 4.6)


# ------------------------------------------------------------------------------ lazy loading

def test_lazy_open_reads_no_pixels_and_one_page_per_plane(tmp_path, monkeypatch):
    data = volume(shape=(40, 64, 64))
    path = write_stack(tmp_path / "big.tif", data, (30.0, 10.0, 10.0))
    monkeypatch.setattr(io, "LAZY_CHUNK_BYTES", 1)  # one page per chunk
    reads = pixel_bytes_read(monkeypatch)
    loaded = read_stack(path, lazy_fraction=1e-12)  # "bigger than RAM fraction" -> lazy
    assert loaded.lazy and isinstance(loaded.data, da.Array)
    assert reads == []  # nothing read at open time
    plane = loaded.data[7].compute()
    np.testing.assert_array_equal(plane, data[7])
    assert sum(reads) == 64 * 64  # exactly one page read
    np.testing.assert_array_equal(loaded.data.compute(), data)
    loaded.close()


def test_lazy_threshold_from_environment_and_forcing(tmp_path, monkeypatch):
    path = write_stack(tmp_path / "s.tif", volume(), (30.0, 10.0, 10.0))
    assert not read_stack(path).lazy  # a few kB: in memory by default
    monkeypatch.setenv(io.LAZY_FRACTION_ENV, "1e-12")
    assert read_stack(path).lazy
    assert not read_stack(path, lazy=False).lazy
    monkeypatch.delenv(io.LAZY_FRACTION_ENV)
    assert read_stack(path, lazy=True).lazy


def test_lazy_chunks_group_whole_pages(tmp_path):
    path = write_stack(tmp_path / "s.tif", volume(shape=(50, 64, 64)), (30.0, 10.0, 10.0))
    chunks = read_stack(path, lazy=True).data.chunks
    assert chunks[1:] == ((64,), (64,))
    assert sum(chunks[0]) == 50


def test_pages_written_as_separate_2d_series_are_one_stack(tmp_path):
    data = volume(shape=(5, 30, 20))
    path = tmp_path / "pages.tif"
    for plane in data:
        tifffile.imwrite(path, plane, append=True)
    for lazy in (False, True):
        loaded = read_stack(path, lazy=lazy)
        assert loaded.shape == (5, 30, 20)
        np.testing.assert_array_equal(np.asarray(loaded.data), data)


def test_multipage_plain_tiff_is_one_stack(tmp_path):
    data = volume(shape=(7, 30, 20))
    path = tmp_path / "plain.tif"
    with tifffile.TiffWriter(path) as tif:
        for plane in data:
            tif.write(plane, metadata=None)
    np.testing.assert_array_equal(read_stack(path).data, data)


# ------------------------------------------------------------------------------ writing

def test_dask_data_is_written_chunk_by_chunk(tmp_path):
    data = volume(shape=(12, 48, 40))
    lazy = da.from_array(data, chunks=(4, 48, 40)) + 1
    computed_blocks = []
    original = tiff_writer._planes

    def planes(arr, dtype, progress):
        computed_blocks.append(arr.chunks[0])
        yield from original(arr, dtype, progress)

    progress = []
    tiff_writer._planes, saved = planes, tiff_writer._planes
    try:
        path = write_stack(tmp_path / "d.tif", lazy, (30.0, 10.0, 10.0),
                           progress=lambda done, total: progress.append((done, total)))
    finally:
        tiff_writer._planes = saved
    assert computed_blocks == [(4, 4, 4)]
    assert progress[-1] == (12, 12) and len(progress) == 12
    np.testing.assert_array_equal(read_stack(path).data, data + 1)


def test_large_data_is_written_as_bigtiff(tmp_path, monkeypatch):
    monkeypatch.setattr(tiff_writer, "BIGTIFF_THRESHOLD_BYTES", 1000)
    data = volume()
    path = write_stack(tmp_path / "big.tif", da.from_array(data, chunks=(2, 40, 32)),
                       (45.0, 15.0, 15.0))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
    loaded = read_stack(path)
    assert_spacing(loaded.spacing, (45.0, 15.0, 15.0))
    np.testing.assert_array_equal(loaded.data, data)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    write_stack(tmp_path / "out.tif", volume(), (45.0, 15.0, 15.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    mode = (tmp_path / "out.tif").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not the 0600 of a temporary file


def test_interrupted_write_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.tif"
    old = volume(seed=1)
    write_stack(target, old, (45.0, 15.0, 15.0))

    def cancel(done, total):
        if done == 3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        write_stack(target, volume(seed=2), (45.0, 15.0, 15.0), progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    np.testing.assert_array_equal(read_stack(target).data, old)


def test_protected_paths_are_never_overwritten(tmp_path, monkeypatch):
    source = write_stack(tmp_path / "in.tif", volume(seed=1), (45.0, 15.0, 15.0))
    before = source.read_bytes()
    with pytest.raises(InputError, match="input"):
        write_stack(source, volume(seed=2), (45.0, 15.0, 15.0), protect=[source])
    monkeypatch.chdir(tmp_path)  # another spelling of the same file
    with pytest.raises(InputError, match="input"):
        write_stack(Path("sub/../in.tif"), volume(seed=2), None, protect=[str(source)])
    link = tmp_path / "link.tif"
    link.symlink_to(source)
    with pytest.raises(InputError, match="input"):
        write_stack(link, volume(seed=2), None, protect=[source])
    assert source.read_bytes() == before


def test_lazy_source_file_is_not_overwritten_by_data_computed_from_it(tmp_path):
    source = write_stack(tmp_path / "in.tif", volume(), (45.0, 15.0, 15.0))
    before = source.read_bytes()
    lazy = read_stack(source, lazy=True).data
    derived = (lazy[1:].astype(np.float32) * 2)[:, ::2]
    assert tiff_writer.source_of(derived) == source.resolve()
    with pytest.raises(InputError, match="read from it"):
        write_stack(source, derived, (45.0, 30.0, 15.0))
    assert source.read_bytes() == before
    out = write_stack(tmp_path / "out.tif", derived, (45.0, 30.0, 15.0))  # elsewhere: fine
    np.testing.assert_allclose(read_stack(out).data, derived.compute())


@pytest.mark.parametrize(("name", "data", "message"), [
    ("x.png", volume(), "must end in .tif"),
    ("x.tif", np.zeros((2, 3, 4, 5), np.uint8), "2-D or 3-D"),
    ("x.tif", np.zeros((0, 8, 8), np.uint8), "non-empty"),
    ("x.tif", np.zeros((2, 8, 8), np.complex64), "convert"),
])
def test_write_rejects_what_it_cannot_write(tmp_path, name, data, message):
    with pytest.raises(InputError, match=message):
        write_stack(tmp_path / name, data, None)
    assert list(tmp_path.iterdir()) == []


def test_impossible_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(InputError, match=r"cannot write .*out\.tif"):
        write_stack(blocker / "out.tif", volume(), None)
    assert blocker.read_text() == "a file where a folder should be"


def test_unwritable_folder_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running with permissions that ignore the folder mode (root)")
        with pytest.raises(InputError, match=r"cannot write .*out\.tif"):
            write_stack(locked / "out.tif", volume(), None)
    finally:
        locked.chmod(0o700)


def test_write_rejects_bad_spacing(tmp_path):
    with pytest.raises(InputError, match="positive"):
        write_stack(tmp_path / "x.tif", volume(), (45.0, -1.0, 15.0))


# ------------------------------------------------------------------------------ bad input

def test_missing_file(tmp_path):
    with pytest.raises(StackReadError, match=r"missing\.tif.*no such file"):
        read_stack(tmp_path / "missing.tif")


def test_not_a_tiff(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("these are my notes, not an image")
    with pytest.raises(StackReadError, match=r"notes\.tif.*not a valid TIFF"):
        read_stack(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.tif"
    path.touch()
    with pytest.raises(StackReadError, match=r"empty\.tif.*empty \(0 bytes\)"):
        read_stack(path)


def test_folder_and_wrong_suffix(tmp_path):
    (tmp_path / "dir.tif").mkdir()
    with pytest.raises(StackReadError, match="folder"):
        read_stack(tmp_path / "dir.tif")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(StackReadError, match=r"only TIFF stacks"):
        read_stack(tmp_path / "image.png")


@pytest.mark.parametrize("cut", ["half", "last pixels"])
def test_truncated_file_is_reported_not_silently_shortened(tmp_path, cut):
    path = write_stack(tmp_path / "cut.tif", volume(shape=(10, 64, 64)), (45.0, 15.0, 15.0))
    content = path.read_bytes()
    with tifffile.TiffFile(path) as tif:
        end_of_pixels = tif.series[0].dataoffset + tif.series[0].nbytes
    keep = len(content) // 2 if cut == "half" else end_of_pixels - 10
    path.write_bytes(content[:keep])
    for lazy in (False, True):
        with pytest.raises(StackReadError, match=r"cut\.tif.*truncated"):
            read_stack(path, lazy=lazy)


def test_damaged_trailing_page_header_with_complete_pixels_is_no_false_alarm(tmp_path):
    data = volume(shape=(10, 64, 64))
    path = write_stack(tmp_path / "tail.tif", data, (45.0, 15.0, 15.0))
    content = path.read_bytes()
    path.write_bytes(content[:-20])  # the last page's IFD, after all pixel data
    for lazy in (False, True):
        np.testing.assert_array_equal(np.asarray(read_stack(path, lazy=lazy).data), data)


def test_corrupt_compressed_pixels(tmp_path):
    path = tmp_path / "zip.tif"
    with tifffile.TiffWriter(path) as tif:
        for plane in volume(shape=(4, 64, 64)):
            tif.write(plane, compression="zlib")
    content = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[1].dataoffsets[0]
    content[offset: offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(content))
    with pytest.raises(StackReadError, match=r"zip\.tif.*corrupt"):
        read_stack(path, lazy=False)


@pytest.mark.parametrize(("data", "message"), [
    (np.zeros((40, 32), np.uint8), "2-D image"),
    (np.zeros((4, 40, 32, 3), np.uint8), "RGB"),
    (np.zeros((2, 3, 40, 32), np.uint8), "4-D"),
])
def test_require_volume_rejects_non_volumes(tmp_path, data, message):
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, data, photometric="rgb" if data.shape[-1] == 3 else "minisblack")
    loaded = read_stack(path)  # reading works: the file is fine
    with pytest.raises(InputError, match=message) as info:
        loaded.require_volume()
    assert "img.tif" in str(info.value)


def test_require_volume_rejects_empty_and_nan(tmp_path):
    with pytest.raises(InputError, match="empty"):
        io.LoadedStack(np.zeros((0, 16, 16), np.uint8), None).require_volume()
    data = volume(dtype=np.float32)
    data[2, 5, 5] = np.nan
    loaded = read_stack(write_stack(tmp_path / "nan.tif", data, (45.0, 15.0, 15.0)))
    with pytest.raises(InputError, match="NaN") as info:
        loaded.require_volume()
    assert "nan.tif" in str(info.value)


def test_require_volume_accepts_a_stack_and_returns_it(tmp_path):
    loaded = read_stack(write_stack(tmp_path / "ok.tif", volume(), (45.0, 15.0, 15.0)))
    assert loaded.require_volume() is loaded


# ------------------------------------------------------------------------------ resolve_spacing

def test_resolve_spacing_priorities(tmp_path):
    loaded = read_stack(write_stack(tmp_path / "s.tif", volume(), (45.0, 15.0, 15.0)))
    assert resolve_spacing(loaded) == (45.0, 15.0, 15.0)
    assert resolve_spacing(loaded, spacing=(50, 5, 5)) == (50.0, 5.0, 5.0)
    assert resolve_spacing(loaded, ratio=2.5) == pytest.approx((37.5, 15.0, 15.0))


def test_resolve_spacing_without_metadata(tmp_path):
    loaded = read_stack(write_stack(tmp_path / "s.tif", volume(), None))
    with pytest.raises(InputError, match=r"s\.tif carries no voxel spacing$"):
        resolve_spacing(loaded)
    assert resolve_spacing(loaded, ratio=3.0) == (3.0, 1.0, 1.0)
    assert resolve_spacing(loaded, spacing=(30, 10, 10)) == (30.0, 10.0, 10.0)


def test_resolve_spacing_rejects_ratio_below_one_and_bad_values(tmp_path):
    loaded = read_stack(write_stack(tmp_path / "s.tif", volume(), (45.0, 15.0, 15.0)))
    with pytest.raises(InputError, match="at least 1"):
        resolve_spacing(loaded, spacing=(5.0, 15.0, 15.0))
    with pytest.raises(InputError, match="at least 1"):
        resolve_spacing(loaded, ratio=0.5)
    with pytest.raises(InputError, match="positive"):
        resolve_spacing(loaded, spacing=(0.0, 15.0, 15.0))


@pytest.mark.parametrize("depth", [0.0, -30.0, "abc"])
def test_unusual_imagej_z_spacing_is_said_and_keeps_the_lateral_size(tmp_path, depth):
    """A zero or non-numeric ImageJ z spacing keeps the file's lateral pixel size (the axial one
    is unknown); a negative one (reverse-numbered sections) is used by its size, with a note."""
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.zeros((4, 8, 8), np.uint8), imagej=True,
                     resolution=(1 / 5.0, 1 / 5.0), metadata={"spacing": depth, "unit": "nm"})
    loaded = read_stack(path)
    notes = " ".join(loaded.notes)
    if depth == -30.0:
        assert loaded.spacing == pytest.approx((30.0, 5.0, 5.0))
        assert "negative" in notes and "30" in notes
    else:
        assert loaded.spacing is None
        assert loaded.lateral_spacing == pytest.approx((5.0, 5.0))
        assert "unusable" in notes
