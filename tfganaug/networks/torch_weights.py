"""Reading a PyTorch state dict (`torch.save` of tensors) into numpy arrays, without PyTorch.

Only what a file of plain float and integer tensors needs: the pickle may name nothing but
`collections.OrderedDict`, torch's storage types and `torch._utils._rebuild_tensor_v2`; any
other global (code a pickle could run) is refused. Both of torch's formats are read: the
legacy one (a magic-number pickle, the state-dict pickle, then each storage's raw bytes) and
the zip archive of torch >= 1.6 (`data.pkl` plus one file per storage).
"""

import collections
import pickle
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _Storage:
    """A storage named by the pickle; its bytes come later (legacy) or from its own file (zip)."""

    def __init__(self, key, dtype):
        self.key, self.dtype, self.array = key, np.dtype(dtype), None


class _Tensor:
    """A tensor's view of a storage, materialized once the storages are read."""

    def __init__(self, storage, offset, size, stride, *_):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def numpy(self):
        base = self.storage.array
        itemsize = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(base[self.offset:], self.size, [s * itemsize for s in self.stride])
        return np.array(view)  # a contiguous copy, in the tensor's logical layout


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _Tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not a plain tensor state dict")

    def persistent_load(self, saved_id):
        kind, dtype, key = saved_id[0], saved_id[1], str(saved_id[2])
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent object {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, dtype)
        return self.storages[key]


def read_state_dict(path):
    """{name: numpy array} of a PyTorch state-dict file, in torch's layouts (a conv weight is [O, I, kh, kw])."""
    storages = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            prefix = archive.namelist()[0].split("/")[0]
            with archive.open(f"{prefix}/data.pkl") as f:
                state = _Unpickler(f, storages).load()
            for key, storage in storages.items():
                storage.array = np.frombuffer(archive.read(f"{prefix}/data/{key}"), storage.dtype)
    else:
        with open(path, "rb") as f:
            load = lambda: _Unpickler(f, storages).load()  # noqa: E731
            if load() != _LEGACY_MAGIC:
                raise ValueError(f"{path} is not a PyTorch file")
            load(), load()  # protocol version, system info
            state = load()
            for key in load():  # the storages' raw bytes, in this order, each after its size
                storage = storages[str(key)]
                count = int(np.frombuffer(f.read(8), "<i8")[0])
                storage.array = np.frombuffer(f.read(count * storage.dtype.itemsize), storage.dtype)
    return {name: tensor.numpy() for name, tensor in state.items()}
