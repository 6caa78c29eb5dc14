"""The restricted unpickler: data pickles load, anything that would run code is refused unrun."""

import os
import pickle

import numpy as np
import pytest

from protogen.errors import FileFormatError
from protogen.safe_pickle import safe_load, safe_loads


class _Planted:
    """Unpickling this with plain pickle would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _short_binstring(raw: bytes) -> bytes:
    return b"U" + bytes([len(raw)]) + raw


def python2_cifar_like_pickle() -> bytes:
    """A pickle as Python 2 + numpy 1 wrote the CIFAR files: protocol 2, byte strings
    (SHORT_BINSTRING) for keys and raw array data, ``numpy.core.multiarray._reconstruct``."""
    dtype = (b"cnumpy\ndtype\n" + _short_binstring(b"u1") + b"K\x00K\x01\x87R(K\x03"
             + _short_binstring(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    state = b"(K\x01K\x03\x85" + dtype + b"\x89" + _short_binstring(b"\x01\x02\xff") + b"tb"
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
             + _short_binstring(b"b") + b"\x87R" + state)
    return (b"\x80\x02}(" + _short_binstring(b"data") + array + _short_binstring(b"labels")
            + b"]K\x07au.")


def test_python2_numpy1_pickle_loads_with_arrays_intact():
    got = safe_loads(python2_cifar_like_pickle(), source="batch")
    assert set(got) == {"data", "labels"}
    assert got["labels"] == [7]
    np.testing.assert_array_equal(got["data"], np.array([1, 2, 255], dtype=np.uint8))
    # The same bytes through plain pickle give the same object: the restriction loses nothing.
    plain = pickle.loads(python2_cifar_like_pickle(), encoding="latin1")
    np.testing.assert_array_equal(plain["data"], got["data"])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_containers_and_arrays_round_trip(protocol):
    obj = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [0, 1, 2],
           "names": (b"a", "b"), "x": 1.5, "flag": True, "scalar": np.float32(2.5),
           "set": {1, 2}, "none": None}
    got = safe_loads(pickle.dumps(obj, protocol=protocol), source="f")
    np.testing.assert_array_equal(got["data"], obj["data"])
    assert got["data"].dtype == np.uint8
    assert {k: v for k, v in got.items() if k != "data"} == {k: v for k, v in obj.items()
                                                             if k != "data"}


def test_numpy1_module_names_load_under_numpy2():
    data = pickle.dumps(np.arange(5.0), protocol=2).replace(b"numpy._core", b"numpy.core")
    np.testing.assert_array_equal(safe_loads(data, source="f"), np.arange(5.0))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_code_carrying_pickle_is_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"data": [_Planted(marker)]}, protocol=protocol)
    with pytest.raises(FileFormatError) as err:
        safe_loads(data, source="evil.pkl")
    assert not marker.exists()
    message = str(err.value)
    assert "evil.pkl" in message and "\n" not in message
    assert "system" in message  # names what it refused


def test_other_callables_are_refused(tmp_path):
    import collections

    data = pickle.dumps(collections.OrderedDict(a=1))
    with pytest.raises(FileFormatError, match="collections.OrderedDict"):
        safe_loads(data, source="f")


def test_truncated_file_is_a_clean_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"data": np.zeros(100)})[:40])
    with path.open("rb") as fh, pytest.raises(FileFormatError, match="cut.pkl"):
        safe_load(fh, source=str(path))
