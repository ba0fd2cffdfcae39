//! Where the command line reads from: a file, or standard input for `-` or nothing.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// How a source is named in messages.
pub(super) fn name(file: Option<&Path>) -> String {
    match file {
        Some(path) if path.as_os_str() != "-" => path.display().to_string(),
        _ => "standard input".to_owned(),
    }
}

/// The whole text of `file`, or of standard input.
pub(super) fn read_all(file: Option<&Path>) -> std::io::Result<String> {
    match file {
        Some(path) if path.as_os_str() != "-" => read_file(path),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin().lock().read_to_end(&mut bytes)?;
            text(bytes)
        }
    }
}

/// How much of a file is mapped ahead of reading it.
const PREFAULT_LIMIT: usize = 64 << 20;

/// The file's text, read into pages mapped in one call rather than one fault at a time
/// (`crate::prefault`): a 3.5 MB event is some 850 pages.
fn read_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let size = usize::try_from(size).unwrap_or(0);
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size.saturating_add(1))?;
    // An event is at most 6 MB; a bigger file is read as before, only not mapped ahead whole.
    crate::prefault::spare(&mut bytes, size.min(PREFAULT_LIMIT));
    file.read_to_end(&mut bytes)?;
    text(bytes)
}

fn text(bytes: Vec<u8>) -> std::io::Result<String> {
    crate::utf8::into_string(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// A line reader over `file`, or over standard input.
pub(super) fn lines(file: Option<&Path>) -> std::io::Result<Box<dyn BufRead>> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            Ok(Box::new(BufReader::new(std::fs::File::open(path)?)))
        }
        _ => Ok(Box::new(std::io::stdin().lock())),
    }
}
