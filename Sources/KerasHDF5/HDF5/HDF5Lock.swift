internal import CHDF5
import Synchronization

/// The one process-wide lock behind which every libhdf5 call runs.
///
/// Debian's libhdf5 has a global lock of its own, but identifiers, the error stack and the file cache are
/// shared state between calls: a read or write of a whole file holds this lock from the first call to the
/// last close, so no other thread's call interleaves. Not reentrant: code running inside `withLock` must
/// not call `HDF5.readTree`/`writeTree` again.
enum HDF5Lock {
    private static let mutex = Mutex<Void>(())

    /// Runs `body` holding the lock, with libhdf5's own error printing turned off on this thread.
    ///
    /// HDF5's automatic error printing is a setting of the calling thread's error stack in a thread-safe
    /// build, so it is switched off on every acquisition rather than once per process.
    static func withLock<R: Sendable>(_ body: () throws(KerasError) -> R) throws(KerasError) -> R {
        let result: Result<R, KerasError> = mutex.withLock { _ in
            _ = H5open()
            _ = H5Eset_auto2(CHDF5_H5E_DEFAULT(), nil, nil)
            do throws(KerasError) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
