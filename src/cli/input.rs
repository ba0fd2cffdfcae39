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
        Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path),
        _ => {
            let mut text = String::new();
            std::io::stdin().lock().read_to_string(&mut text)?;
            Ok(text)
        }
    }
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
