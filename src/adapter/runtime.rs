//! The one way this crate builds its async runtime: current-thread, because Lambda gives a
//! 128 MB function a fraction of one vCPU and an invocation does one thing at a time.

/// A current-thread tokio runtime with I/O and timers.
pub(crate) fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
