"""The prototype file: round trips, validation of damaged and foreign files, atomic writes."""

import h5py
import numpy as np
import pytest

from protogen import io, sphere
from protogen.errors import FileFormatError, InputError
from protogen.result import Result
from protogen.solvers.closed_form import cross_polytope, simplex


def make_file(tmp_path, name="p.h5", protos=None, **kw):
    protos = simplex(4, 3) if protos is None else protos
    return io.save_prototypes(tmp_path / name, protos, **kw)


def test_round_trip_with_names_attrs_and_datasets(tmp_path):
    protos = cross_polytope(6, 3)
    res = Result(protos, method="closed-form", seed=7,
                 params={"construction": "x", "tries": 3, "rate": 0.25, "flag": True,
                         "time_limit": None, "sizes": [2, 3]},
                 elapsed_s=1.5, class_names=list("abcdef"),
                 metadata={"note": "hello", "nested": {"a": [1, 2]}, "nothing": None},
                 datasets={"class_vectors": np.arange(12.0).reshape(6, 2)})
    path = io.save_result(res, tmp_path / "p.h5")
    pset = io.load_prototypes(path)
    assert isinstance(pset, Result) and pset == res  # one class, an equal object back
    assert pset.path == str(path)
    # field by field against the literals above (equality alone could hide a bad __eq__)
    np.testing.assert_array_equal(pset.prototypes, protos)
    assert (pset.method, pset.seed, pset.elapsed_s) == ("closed-form", 7, 1.5)
    assert pset.class_names == list("abcdef")
    assert pset.params == {"construction": "x", "tries": 3, "rate": 0.25, "flag": True,
                           "time_limit": None, "sizes": [2, 3]}
    assert pset.metadata == {"note": "hello", "nested": {"a": [1, 2]}, "nothing": None}
    np.testing.assert_array_equal(pset.datasets["class_vectors"], np.arange(12.0).reshape(6, 2))
    assert pset.attrs["format"] == io.FORMAT and pset.attrs["format_version"] == io.FORMAT_VERSION
    assert pset.attrs["generated_by"].startswith("protogen ")
    assert pset.attrs["seed"] == 7 and pset.attrs["method"] == "closed-form"
    # the octahedron: min angle 90 deg, 12 pairs at chord sqrt 2 and 3 at chord 2
    assert pset.attrs["min_angle_deg"] == pytest.approx(90.0)
    assert pset.attrs["max_cosine"] == pytest.approx(0.0, abs=1e-12)
    assert pset.attrs["riesz1_energy"] == pytest.approx(12 / 2**0.5 + 3 / 2, abs=1e-12)
    assert "creation_date" in pset.attrs
    # a change in any saved field breaks equality; history (not saved) does not
    assert pset != Result(protos, method="closed-form", seed=8, params=res.params,
                          elapsed_s=1.5, class_names=list("abcdef"), metadata=res.metadata,
                          datasets=res.datasets)
    changed = io.load_prototypes(path)
    changed.datasets["class_vectors"] = changed.datasets["class_vectors"] + 1
    assert changed != res
    res.history.append(0.5)
    assert pset == res


def test_bare_prototypes_round_trip_and_legacy_null(tmp_path):
    path = make_file(tmp_path, class_names=["a", "b", "c", "d"])
    pset = io.load_prototypes(path)
    assert pset == Result(simplex(4, 3), class_names=["a", "b", "c", "d"])
    assert pset.method is None and pset.seed is None
    # a file from before json_encoded_attrs stored None as the text "null"
    with h5py.File(path, "r+") as f:
        del f.attrs[io.JSON_ATTRS]
        f.attrs["seed"] = "null"
    assert io.load_prototypes(path).seed is None


def test_no_silent_overwrite_and_force(tmp_path):
    path = make_file(tmp_path)
    before = path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        make_file(tmp_path, protos=cross_polytope(6, 3))
    assert path.read_bytes() == before
    make_file(tmp_path, protos=cross_polytope(6, 3), force=True)
    assert io.load_prototypes(path).num_classes == 6


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        io.save_prototypes(tmp_path / "x.h5", simplex(4, 3), datasets={"prototypes": [1]})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="does not exist"):
        make_file(tmp_path, name="missing/dir.h5")


def test_atomic_path_removes_temp_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def write_raw(path, data, **attrs):
    with h5py.File(path, "w") as f:
        if data is not None:
            f.create_dataset("prototypes", data=data)
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


GOOD = dict(format=io.FORMAT, format_version=io.FORMAT_VERSION)


@pytest.mark.parametrize("maker, message", [
    (lambda p: p / "absent.h5", "no such file"),
    (lambda p: (p / "t.txt").write_text("hello") and p / "t.txt", "not an HDF5"),
    (lambda p: write_raw(p / "f.h5", simplex(4, 3)), "not a protogen"),
    (lambda p: write_raw(p / "v.h5", simplex(4, 3), format=io.FORMAT, format_version=99),
     "format_version"),
    (lambda p: write_raw(p / "n.h5", np.ones((4, 3)), **GOOD), "not unit"),
    (lambda p: write_raw(p / "nan.h5", np.full((4, 3), np.nan), **GOOD), "NaN"),
    (lambda p: write_raw(p / "s.h5", np.ones(3), **GOOD), "2-D"),
    (lambda p: write_raw(p / "e.h5", None, **GOOD), "no 'prototypes'"),
])
def test_invalid_files_are_rejected_with_one_line(tmp_path, maker, message):
    path = maker(tmp_path)
    with pytest.raises(FileFormatError, match=message) as info:
        io.load_prototypes(path)
    assert "\n" not in str(info.value)


def test_truncated_file_is_rejected(tmp_path):
    path = make_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError):
        io.load_prototypes(path)


@pytest.mark.parametrize("fmt", io.EXPORT_FORMATS)
def test_export_import_round_trip(tmp_path, fmt):
    protos = sphere.random_points(9, 4, seed=5)
    pset = io.load_prototypes(io.save_prototypes(tmp_path / "p.h5", protos))
    exported = io.export_prototypes(pset, tmp_path / f"p.{fmt}", fmt)
    back = io.import_prototypes(exported, tmp_path / "q.h5", dim=4 if fmt == "txt" else None)
    np.testing.assert_allclose(io.load_prototypes(back).prototypes, protos, atol=1e-15)


def test_npy_export_is_plain_array(tmp_path):
    pset = io.load_prototypes(make_file(tmp_path))
    io.export_prototypes(pset, tmp_path / "p.npy", "npy")
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), pset.prototypes)


def test_import_rejects_non_unit_unless_normalised(tmp_path):
    np.savetxt(tmp_path / "raw.csv", 2 * simplex(4, 3), delimiter=",")
    with pytest.raises(InputError, match="normalize"):
        io.import_prototypes(tmp_path / "raw.csv", tmp_path / "o.h5")
    io.import_prototypes(tmp_path / "raw.csv", tmp_path / "o.h5", normalize=True)
    assert io.load_prototypes(tmp_path / "o.h5").attrs["min_angle_deg"] == pytest.approx(109.4712206)
    (tmp_path / "bad.txt").write_text("1\n2\n3\n")
    with pytest.raises(InputError, match="rows of 2"):
        io.import_prototypes(tmp_path / "bad.txt", tmp_path / "b.h5", dim=2)
