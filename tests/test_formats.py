"""CIFAR python-pickle and idx-ubyte readers on tiny files in exactly the official layouts."""

import gzip
import os
import pickle

import numpy as np
import pytest

from data_fixtures import CIFAR10_NAMES, make_cifar10, make_cifar100, make_idx, make_tar
from protogen.errors import FileFormatError, InputError
from protogen.train.formats import read_cifar, read_idx, read_idx_array, write_idx_array


def _expected_cifar_images(batch_path):
    raw = pickle.loads(batch_path.read_bytes())
    data = raw[b"data"] if b"data" in raw else raw["data"]
    # Hand decoding of the documented layout: 1024 red, then green, then blue, row-major.
    r, g, b = data[:, :1024], data[:, 1024:2048], data[:, 2048:]
    return np.stack([c.reshape(-1, 32, 32) for c in (r, g, b)], axis=1) / 255.0


@pytest.mark.parametrize("form", ["parent", "folder", "tar"])
def test_cifar10_reads_all_batches_names_and_pixels(tmp_path, form):
    folder = make_cifar10(tmp_path / "src")
    path = {"parent": tmp_path / "src", "folder": folder,
            "tar": make_tar(folder, tmp_path / "cifar-10-python.tar.gz")}[form]
    data = read_cifar("cifar10", path)
    assert data.class_names == CIFAR10_NAMES
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(data.y_test, np.arange(10))
    np.testing.assert_allclose(data.x_train[:6], _expected_cifar_images(folder / "data_batch_1"),
                               atol=1e-7)
    np.testing.assert_allclose(data.x_train[24:], _expected_cifar_images(folder / "data_batch_5"),
                               atol=1e-7)
    assert data.hierarchy() is None


def test_cifar100_fine_labels_names_and_coarse_hierarchy(tmp_path):
    names = [f"n{i}" for i in range(100)]
    folder = make_cifar100(tmp_path, names=names)
    data = read_cifar("cifar100", make_tar(folder, tmp_path / "c100.tar.gz"))
    assert data.class_names == names
    assert data.x_train.shape == (140, 3, 32, 32)
    raw = pickle.loads((folder / "train").read_bytes())
    np.testing.assert_array_equal(data.y_train, raw["fine_labels"])
    groups = data.hierarchy()
    assert len(groups) == 20
    assert groups["group3"] == ["n15", "n16", "n17", "n18", "n19"]


def test_missing_file_is_one_line(tmp_path):
    folder = make_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileFormatError, match="data_batch_3") as err:
        read_cifar("cifar10", tmp_path)
    assert "\n" not in str(err.value)


def test_wrong_shaped_array_is_refused(tmp_path):
    folder = make_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps(
        {b"labels": [0, 1], b"data": np.zeros((2, 100), dtype=np.uint8)}, protocol=2))
    with pytest.raises(FileFormatError, match=r"shape \(N, 3072\)"):
        read_cifar("cifar10", folder)


def test_labels_out_of_range_are_refused(tmp_path):
    folder = make_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps(
        {b"labels": [0, 10], b"data": np.zeros((2, 3072), dtype=np.uint8)}, protocol=2))
    with pytest.raises(FileFormatError, match="labels outside"):
        read_cifar("cifar10", folder)


class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("in_tar", [False, True])
def test_code_carrying_batch_is_refused_unrun(tmp_path, in_tar):
    folder = make_cifar10(tmp_path / "src")
    marker = tmp_path / "marker"
    (folder / "data_batch_2").write_bytes(pickle.dumps(
        {b"labels": [0], b"data": np.zeros((1, 3072), np.uint8), b"x": _Planted(marker)}))
    path = make_tar(folder, tmp_path / "c.tar.gz") if in_tar else folder
    with pytest.raises(FileFormatError, match="data_batch_2"):
        read_cifar("cifar10", path)
    assert not marker.exists()


def test_not_an_archive_or_folder(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(InputError):
        read_cifar("cifar10", junk)
    with pytest.raises(InputError, match="no such"):
        read_cifar("cifar10", tmp_path / "absent")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_pairs_round_trip(tmp_path, gz):
    folder = make_idx(tmp_path / "fm", gz=gz)
    data = read_idx(folder)
    assert data.x_train.shape == (30, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(data.y_train, np.arange(30) % 10)
    ext = ".gz" if gz else ""
    opener = gzip.open if gz else open
    with opener(folder / f"train-images-idx3-ubyte{ext}", "rb") as fh:
        raw = fh.read()
    # Hand parse of the idx header: magic 0x00000803, then three big-endian sizes.
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert int.from_bytes(raw[4:8], "big") == 30
    np.testing.assert_allclose(data.x_train[0, 0].ravel(),
                               np.frombuffer(raw[16:16 + 784], np.uint8) / 255.0, atol=1e-7)
    assert data.class_names is None


def test_idx_class_names_file(tmp_path):
    folder = make_idx(tmp_path / "fm")
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    assert read_idx(folder).class_names[3] == "c3"
    (folder / "class_names.txt").write_text("a\nb\n")
    with pytest.raises(FileFormatError, match="2 names"):
        read_idx(folder)


def test_idx_header_claiming_too_much_is_refused_before_reading(tmp_path):
    path = tmp_path / "big-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + np.array([10**6, 1000, 1000], ">u4").tobytes())
    with pytest.raises(FileFormatError, match="too large"):
        read_idx_array(path)


def test_idx_truncated_and_bad_magic(tmp_path):
    path = tmp_path / "a-idx1-ubyte"
    write_idx_array(path, np.arange(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match="truncated"):
        read_idx_array(path)
    path.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(FileFormatError, match="magic"):
        read_idx_array(path)


def test_idx_missing_file_names_expected_layout(tmp_path):
    folder = make_idx(tmp_path / "fm")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte"):
        read_idx(folder)


def test_load_dataset_specs_for_published_layouts(tmp_path):
    from protogen.train.data import load_dataset

    make_cifar100(tmp_path / "c100")
    data = load_dataset(f"cifar100:{tmp_path / 'c100'}")
    assert data.num_classes == 100 and data.input_shape == (3, 32, 32)
    assert data.info["hierarchy"]["group0"] == ["class0", "class1", "class2", "class3", "class4"]
    make_cifar10(tmp_path / "c10")
    assert load_dataset(f"cifar10:{tmp_path / 'c10'}").class_names[0] == "airplane"
    make_idx(tmp_path / "fm")
    data = load_dataset(f"idx:{tmp_path / 'fm'}", limit_train=12)
    assert len(data.train) == 12 and data.num_classes == 10 and data.input_shape == (1, 28, 28)
