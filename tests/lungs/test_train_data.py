"""Training examples of the lung model: where a real CT's lung labels come from."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import write_image, write_volume
from covidct.io.volume import CTVolume
from covidct.lungs.train_data import (
    load_examples,
    lung_label_file,
    read_labelled_ct,
    real_examples,
    source_name,
)


@pytest.fixture()
def chest_file(chest, tmp_path):
    volume = CTVolume(array=chest.hu, spacing=chest.spacing)
    return write_volume(volume, tmp_path / "syn_image.nrrd"), volume


def test_labels_beside_the_ct_replace_the_rules(chest, chest_file):
    """A ``<stem>_lungmask`` file is the label, exactly; its examples are named apart from
    the rules-labelled ones, so a shared cache never mixes the two."""
    path, volume = chest_file
    assert lung_label_file(path) is None
    rules = read_labelled_ct(path)[1]
    by_rules = source_name(path, volume, rules)
    given = np.zeros_like(chest.truth)
    given[chest.truth == 1] = 1  # right lung only: unlike anything the rules would give
    write_image(given, volume, path.with_name("syn_lungmask.nrrd"))
    assert lung_label_file(path) == path.with_name("syn_lungmask.nrrd")
    got = read_labelled_ct(path)[1]
    assert np.array_equal(got, given) and not np.array_equal(got, rules)
    by_file = source_name(path, volume, got)
    assert by_rules.startswith("syn-") and by_file.startswith("syn-") and by_file != by_rules
    ex = real_examples(path, [], clear=True, pixel_mm=4.0, canvas=64)[0]
    assert ex.name == f"{by_file}-clear"
    assert ex.lung.max() == 255 and ex.lung[:, :, 32:].max() < ex.lung[:, :, :32].max()  # LPS: right lung on the left of x


def test_the_cache_never_gives_examples_of_other_labels(chest, chest_file, tmp_path):
    """Examples cached with one set of labels (the rules' mask, as before the rules change) are
    not reused once the labels differ, and are reused while they are the same."""
    path, volume = chest_file
    cache, real = tmp_path / "cache", [(str(path), (), True, ())]
    grid = {"size": "small", "pixel_mm": 4.0, "canvas": 64}
    first = load_examples(cache, [], real, **grid)[0]
    assert load_examples(cache, [], real, **grid)[0].name == first.name
    assert len(list(cache.iterdir())) == 1
    half = np.where(chest.truth == 1, 1, 0).astype(np.uint8)
    again = load_examples(cache, [], real, **grid, labelled={str(path): (volume, half)})[0]
    assert again.name != first.name and len(list(cache.iterdir())) == 2
    assert again.lung.sum() < 0.7 * first.lung.sum()  # the left lung is no longer labelled


def test_labels_on_another_grid_or_with_other_values_are_refused(chest, chest_file):
    path, volume = chest_file
    label = path.with_name("syn_lungmask.nrrd")
    write_image(chest.truth[:-1], CTVolume(array=chest.hu[:-1], spacing=chest.spacing), label)
    with pytest.raises(GeometryMismatchError, match="not on the CT grid"):
        read_labelled_ct(path)
    write_image(np.where(chest.truth > 0, 3, 0).astype(np.uint8), volume, label)
    with pytest.raises(InvalidInputError, match="must be 0 .* 1 .right. and 2 .left."):
        read_labelled_ct(path)


def test_the_labels_file_is_not_taken_for_a_ct(chest, chest_file):
    from covidct.errors import InvalidInputError
    from covidct.lungs.train_data import real_ct_files

    path, volume = chest_file
    write_image(chest.truth, volume, path.with_name("syn_lungmask.nrrd"))
    write_image(chest.truth, volume, path.with_name("syn_label.nii.gz"))
    assert real_ct_files(path.parent) == [path]
    with pytest.raises(InvalidInputError, match="no CT left"):
        real_ct_files(path.parent, exclude=["syn"])
    with pytest.raises(InvalidInputError, match="not a folder"):
        real_ct_files(path)


def test_examples_lie_as_the_network_reads_a_scan(chest):
    """A CT stored in RAS (x and y flipped, the direction saying so) gives the example of the
    same CT stored as a DICOM series: the training sees what inference feeds the network."""
    from covidct.lungs.train_data import example_from_volume

    lps = CTVolume(array=chest.hu, spacing=chest.spacing)
    ras = CTVolume(array=np.ascontiguousarray(chest.hu[:, ::-1, ::-1]), spacing=chest.spacing,
                   direction=(-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    a = example_from_volume(lps, chest.truth, "lps", pixel_mm=2.0, canvas=192)
    b = example_from_volume(ras, chest.truth[:, ::-1, ::-1], "ras", pixel_mm=2.0, canvas=192)
    assert a.lung.any() and np.array_equal(a.hu, b.hu) and np.array_equal(a.lung, b.lung)


def test_examples_of_a_reformat_are_those_of_its_axial_series(chest, reformat):
    """A CT stored as coronal or sagittal slices gives the axial series' example (slices,
    labels and neighbour step): the training sees axial slices whatever the file."""
    from covidct.lungs.train_data import example_from_volume

    axial = CTVolume(array=chest.hu, spacing=chest.spacing)
    a = example_from_volume(axial, chest.truth, "axial", pixel_mm=2.0, canvas=192)
    b = example_from_volume(reformat.volume(axial), reformat.mask(chest.truth), "r", pixel_mm=2.0, canvas=192)
    assert a.lung.any() and a.step == b.step
    assert np.array_equal(a.hu, b.hu) and np.array_equal(a.lung, b.lung)
