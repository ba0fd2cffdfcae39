//! Pages as the detectors see them: normalized, and bounded in number.
//!
//! `page_url` is whatever producers send, so `/p?utm=1` and `/p#top` are the same page, and a
//! producer sending a new URL per click must not grow memory: only the most active pages get a
//! series of their own; the rest are pooled into [`OTHER_PAGES`].

/// The pooled series of every page not tracked on its own.
pub(crate) const OTHER_PAGES: &str = "(other pages)";
/// Longest page name kept; longer ones are cut (on a character boundary).
const PAGE_MAX: usize = 200;

/// `page_url` without its query string and fragment, cut to a bounded length.
///
/// Also cut at the first control character, `"` or `\`: a URL holds none of them unencoded
/// (RFC 3986), and each would be escaped up to six bytes long wherever a page name is stored
/// as JSON, so a producer sending them could make a state store's items too long to write.
pub(crate) fn normalize(page_url: &str) -> &str {
    let page = &page_url[..name_end(page_url.as_bytes())];
    if page.len() <= PAGE_MAX {
        return page;
    }
    let mut cut = PAGE_MAX;
    while !page.is_char_boundary(cut) {
        cut -= 1;
    }
    &page[..cut]
}

/// Where the name ends: the first `?`, `#`, `"`, `\` or control character (`char::is_control`:
/// U+0000 to U+001F and U+007F to U+009F), or the end.
///
/// Read by bytes rather than by `char`: this runs once per click, and decoding each character
/// cost the detectors several times what a byte comparison does. Every character it stops at
/// is ASCII but U+0080 to U+009F, which UTF-8 writes as 0xC2 then 0x80 to 0x9F; 0xC2 only ever
/// leads a character, so the end is always on a character boundary. Eight bytes at a time
/// while none of them is a stop or non-ASCII (which the byte loop then sorts out): the byte
/// loop alone was an eighth of the detectors' cost.
fn name_end(url: &[u8]) -> usize {
    use crate::swar;
    let mut i = 0;
    while let Some(w) = swar::word(url, i) {
        let stop = swar::equal(w, b'?')
            | swar::equal(w, b'#')
            | swar::equal(w, b'"')
            | swar::equal(w, b'\\')
            | swar::equal(w, 0x7f)
            | swar::below(w, 0x20)
            | swar::high(w);
        if stop != 0 {
            break;
        }
        i += 8;
    }
    while i < url.len() {
        match url[i] {
            b'?' | b'#' | b'"' | b'\\' | 0x00..=0x1f | 0x7f => return i,
            0xc2 if matches!(url.get(i + 1), Some(0x80..=0x9f)) => return i,
            _ => i += 1,
        }
    }
    url.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_fragment_are_stripped_and_length_bounded() {
        let cases = [
            ("/pagina-7", "/pagina-7"),
            ("/pagina-7?utm_source=x&b=2", "/pagina-7"),
            ("/pagina-7#top", "/pagina-7"),
            ("/a?b#c", "/a"),
            ("https://shop.example/p?x", "https://shop.example/p"),
            ("?only=query", ""),
            ("/a\u{1}b", "/a"),
            ("/a\"b", "/a"),
            ("/a\\b", "/a"),
            ("/caf\u{e9}/d\u{e9}j\u{e0}", "/caf\u{e9}/d\u{e9}j\u{e0}"),
            ("/a\u{7f}b", "/a"),
            ("/a\u{85}b", "/a"),
            ("/a\u{9f}b", "/a"),
            ("/a\u{a0}b", "/a\u{a0}b"),
            ("/\u{c0}\u{100}\u{2028}", "/\u{c0}\u{100}\u{2028}"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
        // Every character, against the definition read by `char`: in the byte loop's reach,
        // and at places the eight-byte words reach (the first word, the second, the tail).
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            for lead in ["/a", "/abcdef", "/abcdefghijkl"] {
                let url = format!("{lead}{c}b-and-more");
                let by_char = url
                    .find(|c: char| matches!(c, '?' | '#' | '"' | '\\') || c.is_control())
                    .unwrap_or(url.len());
                assert_eq!(normalize(&url), &url[..by_char], "U+{:04X}", c as u32);
            }
        }
        let long = "é".repeat(300);
        assert!(normalize(&long).len() <= PAGE_MAX);
        assert!(long.starts_with(normalize(&long)));
    }
}
