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
    let end = page_url
        .find(|c: char| matches!(c, '?' | '#' | '"' | '\\') || c.is_control())
        .unwrap_or(page_url.len());
    let page = &page_url[..end];
    if page.len() <= PAGE_MAX {
        return page;
    }
    let mut cut = PAGE_MAX;
    while !page.is_char_boundary(cut) {
        cut -= 1;
    }
    &page[..cut]
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
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
        let long = "é".repeat(300);
        assert!(normalize(&long).len() <= PAGE_MAX);
        assert!(long.starts_with(normalize(&long)));
    }
}
