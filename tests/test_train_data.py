"""Trainer data sets: built-ins, npz / hdf5 / image folders, rotation, bad data."""

import h5py
import numpy as np
import pytest

from protogen.errors import InputError
from protogen.train.data import load_dataset, rotate_images


def test_digits_fixed_split_and_shapes():
    d = load_dataset("digits")
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert len(d.train) + len(d.test) == 1797
    assert d.class_names[:3] == ["zero", "one", "two"]
    # scikit-learn's pixels are the integers 0..16, scaled by 1/16: exactly 0 and 1 at the ends
    assert d.train.x.min() == 0.0 and d.train.x.max() == 1.0
    assert np.array_equal(d.train.x * 16, np.round(d.train.x * 16))
    again = load_dataset("digits", seed=5)  # the split does not depend on the run's seed
    assert np.array_equal(again.test.labels, d.test.labels)
    small = load_dataset("digits", limit_train=100, limit_test=50)
    assert len(small.train) == 100 and len(small.test) == 50


def test_rotation_by_90_degrees_is_rot90():
    img = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)
    out = rotate_images(img, np.array([90.0]))
    assert np.allclose(out[0, 0], np.rot90(img[0, 0]), atol=1e-4)  # counter-clockwise
    assert np.allclose(rotate_images(img, np.array([0.0])), img, atol=1e-5)


def test_rotated_digits_are_seeded_and_in_range():
    a = load_dataset("rotated-digits", seed=3, limit_train=50)
    b = load_dataset("rotated-digits", seed=3, limit_train=50)
    c = load_dataset("rotated-digits", seed=4, limit_train=50)
    assert np.array_equal(a.train.values, b.train.values)
    assert np.array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.values, c.train.values)
    assert a.train.values.min() >= 0 and a.train.values.max() <= 180
    assert a.train.labels is not None


def test_npz_classification_regression_and_test_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(40) % 4, class_names=np.array(list("abcd")))
    d = load_dataset(f"npz:{tmp_path / 'c.npz'}")
    assert d.input_shape == (1, 1, 6) and d.num_classes == 4 and d.class_names == list("abcd")
    assert len(d.train) == 30 and len(d.test) == 10
    np.savez(tmp_path / "r.npz", x=x, y=rng.normal(size=40), x_test=x[:5], y_test=np.ones(5))
    r = load_dataset(f"npz:{tmp_path / 'r.npz'}")
    assert r.train.labels is None and r.train.values.shape == (40,) and len(r.test) == 5


def test_hdf5_data_and_a_prototype_file_is_refused(tmp_path):
    from protogen.io import save_prototypes

    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = np.zeros((12, 2, 3, 3), np.float32)
        f["y"] = np.arange(12) % 3
    d = load_dataset(f"hdf5:{tmp_path / 'd.h5'}")
    assert d.input_shape == (2, 3, 3) and d.num_classes == 3
    save_prototypes(tmp_path / "p.h5", np.eye(3))
    with pytest.raises(InputError, match="prototype file, not a data set"):
        load_dataset(f"hdf5:{tmp_path / 'p.h5'}")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["z"] = np.zeros(3)
    with pytest.raises(InputError, match="no array 'x'"):
        load_dataset(f"hdf5:{tmp_path / 'other.h5'}")


def test_image_folder(tmp_path):
    from PIL import Image

    for name, value in (("cat", 0), ("dog", 255)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((5, 7), value, np.uint8)).save(tmp_path / "imgs" / name / f"{i}.png")
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "imgs" / "dog" / "big.png")
    d = load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert d.class_names == ["cat", "dog"] and d.input_shape == (1, 5, 7)
    assert len(d.train) + len(d.test) == 9
    x = np.concatenate([d.train.x, d.test.x])
    y = np.concatenate([d.train.labels, d.test.labels])
    assert np.all(x[y == 0] == 0.0) and np.isclose(x[y == 1].max(), 1.0)
    (tmp_path / "imgs" / "dog" / "bad.png").write_text("not an image")
    with pytest.raises(InputError, match="not a readable image"):
        load_dataset(f"folder:{tmp_path / 'imgs'}")


def test_bad_data(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4)), y=np.zeros(0, np.int64))
    with pytest.raises(InputError, match="no training examples"):
        load_dataset(f"npz:{tmp_path / 'empty.npz'}")
    np.savez(tmp_path / "mismatch.npz", x=np.zeros((5, 4)), y=np.zeros(4, np.int64))
    with pytest.raises(InputError, match="5 inputs but 4"):
        load_dataset(f"npz:{tmp_path / 'mismatch.npz'}")
    with pytest.raises(InputError, match="unknown data set"):
        load_dataset("cifar-1000")
    with pytest.raises(InputError, match="no such file"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
