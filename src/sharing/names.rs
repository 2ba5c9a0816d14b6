//! What a published file name and its description may contain.
//!
//! Why the server checks names when the serving peer checks them again: a listing
//! is read by other people's clients. A name like `../../etc/passwd` or one with a
//! newline in it is either an attack or a mistake, and the server should never
//! advertise it. So PUBLISH refuses every name that a serving peer would refuse by its
//! text alone (the peer also checks the disk: symlinks, missing files). The rules are
//! those of the peer's share directory: a relative path with `/` between
//! ordinary components.

use crate::protocol::{ErrorCode, Refusal, names};

/// The longest file name, in bytes. The serving peer accepts up to 1,024; a listing
/// is meant to be read by people, and 255 bytes is what one file name may have on
/// most file systems.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The longest description, in characters (seed 002 allowed 256 bytes).
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// Checks a file name: 1 to [`MAX_FILE_NAME_BYTES`] bytes, a relative path whose
/// components are separated by `/`, none of them empty, `.`, `..` or hidden (starting
/// with a dot), and no backslash, control or bidirectional character anywhere. It may
/// not start like a spreadsheet formula (`=`, `+`, `-`, `@`: `files.csv` is opened in
/// spreadsheets) and is in NFC (the door normalises it: see `protocol::names`).
///
/// Spaces, commas, quotes and any script are fine: `Férias, "praia" 2026.jpg`.
pub fn check_file_name(name: &str) -> Result<(), Refusal> {
    names::check_chars("file_name", name)?;
    names::refuse_formula("file_name", name)?;
    names::require_nfc("file_name", name)?;
    let why = if name.is_empty() {
        Some("a file name cannot be empty".to_string())
    } else if name.len() > MAX_FILE_NAME_BYTES {
        Some(format!(
            "a file name has at most {MAX_FILE_NAME_BYTES} bytes"
        ))
    } else if name.contains('\\') {
        Some("a file name uses '/' between folders, never '\\'".into())
    } else if name.starts_with('/') {
        Some("a file name is relative to your share directory: no leading '/'".into())
    } else if name.split('/').any(|c| c.is_empty() || c.starts_with('.')) {
        Some("no part of a file name may be empty, '.', '..' or hidden (start with a dot)".into())
    } else if name.trim().is_empty() {
        Some("a file name cannot be only spaces".into())
    } else {
        None
    };
    match why {
        Some(message) => Err(Refusal::new(ErrorCode::BadRequest, message)),
        None => Ok(()),
    }
}

/// Checks a description: at most [`MAX_DESCRIPTION_CHARS`] characters, none of them a
/// control or bidirectional character (so a listing stays one line per file for people
/// reading it, and cannot drive their terminal), not starting like a spreadsheet
/// formula, in NFC. An empty description is allowed.
pub fn check_description(text: &str) -> Result<(), Refusal> {
    names::check_chars("description", text)?;
    names::refuse_formula("description", text)?;
    names::require_nfc("description", text)?;
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("a description has at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for good in [
            "notas.txt",
            "Férias, \"praia\" 2026.jpg",
            "fotos/2026/maçã.png",
            "李.pdf",
            "a b",
            "x..y",
            &"x".repeat(MAX_FILE_NAME_BYTES),
        ] {
            assert!(check_file_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn names_a_peer_would_refuse_are_refused() {
        for bad in [
            "",
            "   ",
            "../secret",
            "a/../../b",
            "..",
            ".",
            "./a",
            "/etc/passwd",
            "a//b",
            "a/",
            ".ssh/id_ed25519",
            "fotos/.hidden",
            "a\\b",
            "C:\\Windows",
            "a\nb",
            "a\0b",
            "tab\there",
            "esc\u{1b}[2J",
            "gpj.\u{202e}exe",
            "=1+2",
            "+x.txt",
            "-1+1",
            "@SUM(A1).txt",
            "Mac\u{327}a\u{303}.txt",
            &"x".repeat(MAX_FILE_NAME_BYTES + 1),
            // 128 two-byte characters: 256 bytes, one too many.
            &"ç".repeat(128),
        ] {
            let refusal = check_file_name(bad).expect_err(bad);
            assert_eq!(refusal.code, ErrorCode::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn descriptions() {
        assert!(check_description("").is_ok());
        assert!(check_description("Receitas, doces e \"sucos\" de caju").is_ok());
        assert!(check_description(&"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(check_description(&"é".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(check_description("two\nlines").is_err());
        assert!(check_description("right\u{202e}left").is_err());
        assert!(check_description("-1+1").is_err());
        assert!(check_description("=HYPERLINK(\"x\")").is_err());
        assert!(check_description("1 - 2 = -1").is_ok());
    }
}
