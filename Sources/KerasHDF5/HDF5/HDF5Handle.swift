internal import CHDF5

/// An owned libhdf5 identifier: something with an `hid_t` that a `deinit` closes.
///
/// Each conforming type is `~Copyable`, so an identifier has exactly one owner and is closed exactly once,
/// with the close function of its kind, on every path (errors included). Owners are only ever created and
/// dropped while `HDF5Lock` is held.
protocol H5Handle: ~Copyable {
    var id: hid_t { get }
}

/// An open file (`H5Fclose`).
struct H5FileID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Fclose(id) }
}

/// An open group (`H5Gclose`).
struct H5GroupID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Gclose(id) }
}

/// An open dataset (`H5Dclose`).
struct H5DatasetID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Dclose(id) }
}

/// An open attribute (`H5Aclose`).
struct H5AttributeID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Aclose(id) }
}

/// A datatype (`H5Tclose`): a copy of an object's type, a decoded type or a built memory type.
struct H5TypeID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Tclose(id) }
}

/// A dataspace (`H5Sclose`).
struct H5SpaceID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Sclose(id) }
}

/// A property list (`H5Pclose`).
struct H5PropertyListID: H5Handle, ~Copyable {
    let id: hid_t
    deinit { _ = H5Pclose(id) }
}

extension H5FileID {
    /// Closes the file now and reports failure (a write's last metadata flush happens here), instead of
    /// leaving it to `deinit`, which cannot throw. Every other identifier of the file must be closed first.
    consuming func close() throws(KerasError) {
        let id = self.id
        discard self
        if H5Fclose(id) < 0 { throw H5ErrorStack.error(.io, "H5Fclose") }
    }
}
