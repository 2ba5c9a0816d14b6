//! `files.csv`: the files users publish for the others to fetch (file sharing, seed
//! 002), one row per user and file name.

use std::fmt;
use std::str::FromStr;

use crate::storage::{Fields, Record, RowError};

/// The key of a published file: who published it, and its name.
///
/// Its text form (used in journal `del` lines) is `user/file_name`. A user name never
/// contains `/` (see `check_user_name`), so the first `/` always ends the user name,
/// even when the file name has folders in it: `alice/fotos/praia.jpg`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    /// Compared first: one user's files are next to each other in the table.
    pub user: String,
    pub file_name: String,
}

impl FileKey {
    pub fn new(user: &str, file_name: &str) -> FileKey {
        FileKey {
            user: user.to_string(),
            file_name: file_name.to_string(),
        }
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.user, self.file_name)
    }
}

impl FromStr for FileKey {
    type Err = RowError;
    fn from_str(text: &str) -> Result<FileKey, RowError> {
        match text.split_once('/') {
            Some((user, file_name)) if !user.is_empty() => Ok(FileKey::new(user, file_name)),
            _ => Err(RowError(format!("not a user/file_name key: {text:?}"))),
        }
    }
}

/// A row of `files.csv`: one file that one user offers to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub user: String,
    /// The file's path inside its owner's share directory (see `sharing::names`).
    pub file_name: String,
    pub description: String,
    /// When it was published, by the server's clock (RFC 3339 UTC).
    pub published_at: String,
}

impl Record for SharedFile {
    const TABLE: &'static str = "files";
    const COLUMNS: &'static [&'static str] = &["user", "file_name", "description", "published_at"];
    type Key = FileKey;

    fn key(&self) -> FileKey {
        FileKey::new(&self.user, &self.file_name)
    }

    fn write_fields(&self, out: &mut dyn Fields) {
        out.text(&self.user);
        out.text(&self.file_name);
        out.text(&self.description);
        out.text(&self.published_at);
    }

    fn from_fields(fields: &[&str]) -> Result<SharedFile, RowError> {
        if fields[0].is_empty() || fields[0].contains('/') {
            return Err(RowError(format!(
                "column user: not a user name: {:?}",
                fields[0]
            )));
        }
        Ok(SharedFile {
            user: fields[0].to_string(),
            file_name: fields[1].to_string(),
            description: fields[2].to_string(),
            published_at: fields[3].to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        for key in [
            FileKey::new("alice", "a.txt"),
            FileKey::new("alice", "fotos/2026/praia, sol.jpg"),
            FileKey::new("joão", ""),
        ] {
            assert_eq!(key.to_string().parse::<FileKey>().unwrap(), key);
        }
        assert!("no-slash".parse::<FileKey>().is_err());
        assert!("/x".parse::<FileKey>().is_err());
    }
}
