//! The base64 of the data path: each record's payload decoded, each enriched line encoded,
//! about 7 MB between them for the largest batch.
//!
//! `base64-simd` (already in the build through the AWS SDK) rather than the `base64` crate's
//! scalar engine, which was a fifth of a batch's instructions. Both read the same alphabet the
//! same strict way, as the `base64` crate's `STANDARD` does: padding required, no whitespace,
//! and the unused bits of the last character zero (a non-canonical encoding is refused), so a
//! record is accepted or refused exactly as before; a test compares the two on every kind of
//! input the property tests make. The `base64` crate stays for everything off the data path.

use base64_simd::{AsOut as _, STANDARD};

/// The payload is not standard, padded, canonical base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

/// Appends the bytes `text` encodes to `out`.
pub(crate) fn decode_append(text: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
    STANDARD.decode_append(text, out).map_err(|_| InvalidBase64)
}

/// Bytes of the padded base64 of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Encodes `bytes` into the start of `out`, which must hold at least [`encoded_len`] bytes;
/// returns how many it wrote (0 when `out` is too short, which callers that size `out` by
/// [`encoded_len`] never see).
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) -> usize {
    let Some(out) = out.get_mut(..encoded_len(bytes.len())) else {
        return 0;
    };
    STANDARD.encode(bytes, out.as_out()).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as SCALAR;

    /// Accepts and refuses what the `base64` crate's `STANDARD` does, and decodes alike.
    fn agrees(text: &[u8]) {
        let mut ours = Vec::new();
        let simd = decode_append(text, &mut ours);
        let scalar = SCALAR.decode(text);
        match (&simd, &scalar) {
            (Ok(()), Ok(bytes)) => assert_eq!(&ours, bytes, "{text:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "{:?}: simd {simd:?}, scalar {scalar:?}",
                String::from_utf8_lossy(text)
            ),
        }
    }

    #[test]
    fn decoding_agrees_with_the_base64_crate() {
        let cases: &[&[u8]] = &[
            b"",
            b"=",
            b"==",
            b"A",
            b"AA",
            b"AA=",
            b"AA==",
            b"AAA",
            b"AAA=",
            b"AAAA",
            b"AB==",
            b"AAB=",
            b"eyJhIjo",
            b"eyJhIjoxfQ==",
            b"eyJhIjoxfQ",
            b"eyJh Ijox",
            b"eyJh\nIjox",
            b"eyJhIjoxfQ==eyJh",
            b"eyJhIjoxfQ===",
            b"e/A=",
            b"e-A=",
            b"e_A=",
            b"not base64!",
            b"AAAA====",
            b"====",
            b"A===",
            b"AAAAAA==",
            b"\xff\xfe==",
        ];
        for case in cases {
            agrees(case);
        }
        // Every length and last character, canonical or not, over every block size the SIMD
        // paths use.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for len in 0..100 {
            let body: Vec<u8> = (0..len).map(|i| alphabet[(i * 7 + 3) % 64]).collect();
            for last in alphabet.iter().chain(b"=-_ ") {
                for pad in [&b""[..], b"=", b"=="] {
                    let mut text = body.clone();
                    text.push(*last);
                    text.extend_from_slice(pad);
                    agrees(&text);
                }
            }
        }
    }

    #[test]
    fn encoding_is_the_base64_crates() {
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut out = vec![0; encoded_len(len)];
            let written = encode_into(&bytes, &mut out);
            assert_eq!(written, out.len());
            assert_eq!(out, SCALAR.encode(&bytes).into_bytes(), "{len}");
        }
        assert_eq!(encode_into(b"abc", &mut [0; 3]), 0);
    }
}
