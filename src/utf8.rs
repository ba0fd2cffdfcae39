//! The UTF-8 check of the data path: the whole event as it is read, every record's decoded
//! payload, and the answer before it becomes a `str`, some 11 MB for the largest batch.
//!
//! `simdutf8` rather than `std::str::from_utf8`: both accept exactly the well-formed UTF-8 of
//! the standard (a test compares them), and std's, which checks ASCII a word at a time, was a
//! twentieth of a batch's CPU time.

/// `bytes` as text, or `None` when they are not UTF-8.
pub(crate) fn as_str(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

/// `bytes` as a `String`, or the bytes back when they are not UTF-8.
pub(crate) fn into_string(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    if as_str(&bytes).is_none() {
        return Err(bytes);
    }
    // SAFETY: just checked to be UTF-8, which is all `from_utf8` would check again.
    Ok(unsafe { String::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_what_std_does() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain ascii {\"a\":1}".to_vec(),
            "p\u{e1}gina \u{1f600} \u{10ffff}".as_bytes().to_vec(),
            b"\xff".to_vec(),
            b"\xc0\x80".to_vec(),
            b"\xed\xa0\x80".to_vec(),
            b"\xf4\x90\x80\x80".to_vec(),
            b"\xe2\x82".to_vec(),
        ];
        // Every byte at every place of a block longer than the SIMD paths' 64 bytes.
        let base = "x\u{e9}\u{20ac}\u{1f600}".repeat(20).into_bytes();
        for at in [0, 1, 31, 32, 63, 64, 65, base.len() - 1] {
            for byte in 0..=255_u8 {
                let mut case = base.clone();
                case[at] = byte;
                cases.push(case);
            }
        }
        for case in cases {
            let std = std::str::from_utf8(&case).ok();
            assert_eq!(as_str(&case), std, "{case:?}");
            assert_eq!(into_string(case.clone()).ok().as_deref(), std, "{case:?}");
        }
    }
}
