//! Faulting in the pages of a large buffer before it is written, many pages per system call.
//!
//! A fresh page of memory costs a page fault when it is first written: a trap into the kernel
//! for each 4 KiB. An invocation of a 3.5 MB batch writes some 9 MiB this way (the event as it
//! is read, the ~5.5 MB answer), and those faults were a third of its CPU time on a Firecracker
//! microVM, Lambda's kind of machine. `madvise(MADV_POPULATE_WRITE)` (Linux 5.14) maps a whole
//! range in one call, for about half the cost per page (README, "Performance", has the
//! figures). It changes no byte and maps nothing new: it only does now, for pages already
//! reserved, what the first write would do later. On an older kernel, or another OS, it is not
//! there and the pages fault in one by one as before.
//!
//! No crate offers this (memmap2 populates file mappings, not a `Vec`'s heap memory), hence the
//! one call by hand.

/// How far ahead of the writes [`Ahead`] maps: a growing buffer is mapped a chunk at a time, so
/// that pages reserved but never written (the answer's capacity is an estimate) are not made
/// resident. Past a few pages per call the saving per page no longer grows.
const CHUNK: usize = 64 * 1024;

/// Maps the pages of `buf`'s spare capacity, up to `len` bytes past its end.
pub(crate) fn spare(buf: &mut Vec<u8>, len: usize) {
    let start = buf.as_ptr() as usize + buf.len();
    let end = buf.as_ptr() as usize + buf.capacity().min(buf.len().saturating_add(len));
    populate(start, end);
}

/// Keeps the pages of a growing buffer mapped a [`CHUNK`] ahead of its length.
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    /// The buffer's address when it was last mapped: a reallocated buffer starts over.
    base: usize,
    /// How many of its bytes are mapped.
    mapped: usize,
}

impl Ahead {
    /// Called before `additional` bytes are appended to `buf`.
    pub(crate) fn before_append(&mut self, buf: &mut Vec<u8>, additional: usize) {
        let base = buf.as_ptr() as usize;
        if base != self.base {
            *self = Self { base, mapped: 0 };
        }
        let need = buf.len().saturating_add(additional);
        if need <= self.mapped {
            return;
        }
        let from = self.mapped.max(buf.len());
        let to = buf.capacity().min(need.saturating_add(CHUNK));
        populate(base + from, base + to);
        self.mapped = to;
    }
}

/// Maps the whole pages between the addresses `start` and `end`, which belong to one live
/// allocation; a page that holds bytes of it is mapped memory, so whole pages are taken from
/// the page holding `start` to the last page that `end` fills.
#[cfg(target_os = "linux")]
fn populate(start: usize, end: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    const PAGE: usize = 4096;
    // Set once the kernel has refused the advice, so that older kernels pay one call, not one
    // per chunk.
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    let first = start & !(PAGE - 1);
    let last = end & !(PAGE - 1);
    if last <= first || UNSUPPORTED.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: the range lies in pages of one allocation the caller holds, and
    // MADV_POPULATE_WRITE neither reads nor changes its bytes nor unmaps anything: it only
    // takes now the write faults the program would take later. Failure is harmless.
    let refused = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_POPULATE_WRITE,
        )
    } != 0;
    if refused && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        UNSUPPORTED.store(true, Ordering::Relaxed);
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_start: usize, _end: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_ahead_changes_no_byte_and_follows_a_reallocated_buffer() {
        let mut buf = Vec::with_capacity(10 * CHUNK);
        let mut ahead = Ahead::default();
        for i in 0..(3 * CHUNK) {
            ahead.before_append(&mut buf, 1);
            buf.push((i % 251) as u8);
        }
        assert!(ahead.mapped >= buf.len() && ahead.mapped <= buf.len() + CHUNK + 1);
        buf.reserve(100 * CHUNK);
        ahead.before_append(&mut buf, 1);
        assert_eq!(ahead.base, buf.as_ptr() as usize);
        spare(&mut buf, usize::MAX);
        assert!(buf.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }
}
