//! Eight bytes at a time in one `u64` ("SIMD within a register"): which bytes of a word equal
//! a given byte or fall below a bound.
//!
//! The scans that use it look for a set of bytes and ranges (a JSON string's end: `"`, `\` or a
//! control character; a page name's end: five bytes and two ranges) that memchr, which finds
//! one to three given bytes, does not cover. The trick is the classic zero-byte test; serde_json
//! uses the same for its own string scan.

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The eight bytes at `at`, the first in the lowest byte; `None` when fewer remain.
pub(crate) fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    let mut word = [0; 8];
    word.copy_from_slice(chunk);
    Some(u64::from_le_bytes(word))
}

/// The high bit of each byte of `w` below `n` (which must be at most 0x80), and possibly of
/// later bytes: a borrow can flag the bytes after a true one, never those before it, so the
/// lowest flag is always true and a word without any holds none.
pub(crate) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
}

/// The high bit of each byte of `w` equal to `b`, with [`below`]'s proviso.
pub(crate) fn equal(w: u64, b: u8) -> u64 {
    below(w ^ (ONES * u64::from(b)), 1)
}

/// The high bit of each byte of `w` at or above 0x80.
pub(crate) fn high(w: u64) -> u64 {
    w & HIGH
}

/// The position in its word of the lowest flagged byte of `flags` (non-zero).
pub(crate) fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_flag_is_the_first_matching_byte_for_every_byte_at_every_place() {
        for at in 0..8 {
            for b in 0..=255_u8 {
                // Other bytes chosen to match nothing tested, then with a match after `at` too.
                for after in [0x41, 0x00] {
                    let mut bytes = [0x41_u8; 8];
                    bytes[at] = b;
                    if at + 1 < 8 {
                        bytes[at + 1] = after;
                    }
                    let w = word(&bytes, 0).unwrap();
                    let want_below = bytes.iter().position(|&x| x < 0x20);
                    let got_below = Some(below(w, 0x20)).filter(|f| *f != 0).map(first);
                    assert_eq!(got_below, want_below, "{bytes:?}");
                    let want_eq = bytes.iter().position(|&x| x == b'"');
                    let got_eq = Some(equal(w, b'"')).filter(|f| *f != 0).map(first);
                    assert_eq!(got_eq, want_eq, "{bytes:?}");
                    let want_high = bytes.iter().position(|&x| x >= 0x80);
                    let got_high = Some(high(w)).filter(|f| *f != 0).map(first);
                    assert_eq!(got_high, want_high, "{bytes:?}");
                }
            }
        }
        assert_eq!(word(b"1234567", 0), None);
        assert_eq!(word(b"12345678", usize::MAX), None);
    }
}
