"""`protogen solve / info / export / import` through click's CliRunner, bad inputs included."""

import json

import h5py
import numpy as np
import pytest
from cli_helpers import assert_one_line_error

from protogen import io


def test_solve_closed_form_writes_default_file_and_info_reads_it(run, tmp_path):
    r = run("solve", "--classes", 6, "--dim", 3, "--quiet")
    assert r.exit_code == 0, r.output
    assert "min angle         90.000000 deg" in r.output
    path = tmp_path / "prototypes-6c-3d.h5"
    pset = io.load_prototypes(path)
    assert pset.attrs["method"] == "closed-form" and pset.attrs["seed"] == 0
    r = run("info", path)
    assert r.exit_code == 0 and "valid protogen prototype file" in r.output
    assert "cross-polytope" in r.output
    r = run("info", path, "--json")
    report = json.loads(r.output)
    assert report["recomputed"]["min_angle_deg"] == pytest.approx(90.0)


def test_solve_json_and_names(run, tmp_path):
    (tmp_path / "names.txt").write_text("cat\ndog\n\nbird\n")
    r = run("solve", "--names", "names.txt", "--dim", 3, "--json", "--out", "n.h5")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["num_classes"] == 3 and summary["min_angle_deg"] == pytest.approx(120.0)
    assert summary["gap_to_simplex_bound_deg"] == pytest.approx(0.0, abs=1e-9)
    assert io.load_prototypes(tmp_path / "n.h5").class_names == ["cat", "dog", "bird"]


def test_bundled_names(run, tmp_path):
    r = run("solve", "--names", "cifar10", "--dim", 9, "--quiet", "--out", "c.h5")
    assert r.exit_code == 0, r.output
    pset = io.load_prototypes(tmp_path / "c.h5")
    assert pset.class_names[:3] == ["airplane", "automobile", "bird"]
    assert pset.attrs["max_cosine"] == pytest.approx(-1 / 9)


def test_export_import_cli_round_trip(run, tmp_path):
    assert run("solve", "-k", 5, "-d", 4, "-q", "--out", "p.h5").exit_code == 0
    for fmt in ("npy", "csv", "txt"):
        r = run("export", "p.h5", "--to", fmt)
        assert r.exit_code == 0, r.output
        extra = ["--dim", 4] if fmt == "txt" else []
        r = run("import", f"p.{fmt}", "--out", f"back-{fmt}.h5", *extra)
        assert r.exit_code == 0, r.output
        np.testing.assert_allclose(io.load_prototypes(tmp_path / f"back-{fmt}.h5").prototypes,
                                   io.load_prototypes(tmp_path / "p.h5").prototypes, atol=1e-15)


def test_existing_output_needs_force_and_is_kept(run, tmp_path):
    assert run("solve", "-k", 4, "-d", 3, "-q", "--out", "p.h5").exit_code == 0
    before = (tmp_path / "p.h5").read_bytes()
    r = run("solve", "-k", 6, "-d", 3, "-q", "--out", "p.h5")
    assert_one_line_error(r, "already exists")
    assert (tmp_path / "p.h5").read_bytes() == before
    assert run("solve", "-k", 6, "-d", 3, "-q", "--out", "p.h5", "--force").exit_code == 0
    assert io.load_prototypes(tmp_path / "p.h5").num_classes == 6


@pytest.mark.parametrize("args, fragment", [
    (["solve", "--classes", 1, "--dim", 3], "--classes"),
    (["solve", "--classes", 5, "--dim", 1], "--dim"),
    (["solve", "--classes", "many", "--dim", 3], "not a valid integer"),
    (["solve", "--classes", 5, "--dim", 3, "--time-limit", -1], "--time-limit"),
    (["solve", "--classes", 5, "--dim", 3, "--seed", -4], "--seed"),
    (["solve", "--dim", 3], "--classes K or --names"),
    (["solve", "--classes", 5, "--dim", 3, "--method", "magic"], "magic"),
    (["solve", "--classes", 5, "--dim", 3, "--out", "no/such/dir/p.h5"], "does not exist"),
    (["solve", "--classes", 5, "--dim", 3, "--names", "absent.txt"], "absent.txt"),
    (["solve", "--classes", 5, "--dim", 3, "-o", "population"], "KEY=VALUE"),
    (["solve", "--classes", 5, "--dim", 3, "--energy", 2], "--method energy"),
    (["solve", "--classes", 10_000_000, "--dim", 4096, "--out", "big.h5"], "GiB"),
    (["info", "absent.h5"], "no such file"),
    (["export", "absent.h5", "--to", "npy"], "no such file"),
    (["export", "x.h5", "--to", "xls"], "xls"),
    (["import", "absent.npy", "--out", "o.h5"], "no such file"),
])
def test_bad_inputs_get_one_line_and_exit_2(run, tmp_path, args, fragment):
    assert_one_line_error(run(*args), fragment)
    assert not any(p.suffix == ".h5" for p in tmp_path.iterdir())


def write_foreign(path, **attrs):
    with h5py.File(path, "w") as f:
        f.create_dataset("prototypes", data=np.full((4, 3), 0.5))
        f.attrs.update(attrs)


@pytest.mark.parametrize("setup, fragment", [
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20), "HDF5"),
    (lambda p: p.write_text("not hdf5"), "not an HDF5"),
    (lambda p: write_foreign(p), "not a protogen"),
    (lambda p: write_foreign(p, format=io.FORMAT, format_version=7), "format_version"),
    (lambda p: write_foreign(p, format=io.FORMAT, format_version=1), "not unit"),
])
@pytest.mark.parametrize("command", [["info"], ["export", "--to", "csv"]])
def test_damaged_files_to_info_and_export(run, tmp_path, setup, fragment, command):
    path = tmp_path / "bad.h5"
    setup(path)
    r = run(command[0], path, *command[1:])
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "bad.csv").exists()


def test_truncated_file_to_info(run, tmp_path):
    assert run("solve", "-k", 5, "-d", 4, "-q", "--out", "p.h5").exit_code == 0
    data = (tmp_path / "p.h5").read_bytes()
    (tmp_path / "p.h5").write_bytes(data[:1000])
    assert_one_line_error(run("info", "p.h5"), "p.h5")


def test_same_seed_gives_identical_prototypes(run, tmp_path):
    for name in ("a.h5", "b.h5"):
        assert run("solve", "-k", 5, "-d", 4, "-q", "--seed", 3, "--out", name).exit_code == 0
    a, b = (io.load_prototypes(tmp_path / n) for n in ("a.h5", "b.h5"))
    np.testing.assert_array_equal(a.prototypes, b.prototypes)
    assert a.attrs["seed"] == b.attrs["seed"] == 3
