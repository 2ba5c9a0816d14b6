//! Turning a file name that came off the network into a path inside the shared folder.
//!
//! Why this deserves its own module: the serving peer opens files named by a stranger.
//! `shared_folder.join(name)` alone would hand out `../../home/me/.ssh/id_ed25519` or
//! `/etc/passwd` (joining an absolute path *replaces* the base). Path traversal is one of
//! the oldest bugs in file servers, so the rules live in one small file with a test for
//! each of them.
//!
//! A name is checked twice:
//! 1. **By its text** ([`check_name`], pure): not empty, no control characters (NUL,
//!    newline, ...) nor bidirectional controls (U+202E, which shows `gpj.exe` as
//!    `exe.jpg`), not absolute, no backslash, and made only of ordinary components
//!    separated by `/`: no `..`, no `.`, no empty component, no component starting with
//!    a dot (hidden files: `.git`, `.ssh`, and downloads in progress, `.x.part-...`).
//! 2. **On disk** ([`SharedFolder::resolve`]): the path is canonicalised (every symlink
//!    followed, as `open` would) and must still lie inside the canonical shared folder,
//!    so a symlink that points outside is refused even though its name looks harmless.
//!
//! A name is matched whatever its Unicode normal form: the server lists every
//! name in NFC (`ç` as one character), while a file copied from another system may be
//! named in NFD on disk (`c` and a combining cedilla), and Linux compares bytes. So
//! when the exact bytes name nothing, [`SharedFolder::resolve`] looks in each folder for
//! an entry whose NFC form is the requested one's.
//!
//! What is left: someone who can write into the shared folder could swap a file for
//! a symlink between the check and the `open`. That person already controls what is
//! shared, so feira accepts that gap and says so here rather than hiding it.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::protocol::{ErrorCode, names};

/// The longest file name accepted, in bytes. Linux allows 4096 for a whole path; a
/// shared file's name needs far less, and a bound keeps refusals cheap.
pub const MAX_NAME_LEN: usize = 1024;

/// Why a requested name was refused. The text of each variant is sent to the remote
/// peer, so it never contains a local path.
#[derive(Debug)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    TooLong,
    /// The name contains a control character (NUL, newline, tab, ...) or a
    /// bidirectional control (U+202E, ...).
    ControlChar,
    /// The name contains `\`, a separator on Windows peers: refused everywhere so that a
    /// name means the same thing on every peer.
    Backslash,
    /// The name starts with `/` (or a drive, on Windows).
    Absolute,
    /// The name has a `..` component.
    ParentDir,
    /// The name has a `.` or an empty component (`a/./b`, `a//b`, `a/`).
    OddComponent,
    /// A component starts with a dot: hidden files are never served.
    Hidden,
    /// The name resolves (through a symlink) to a place outside the shared folder.
    OutsideShare,
    /// Nothing by that name in the shared folder.
    NotFound,
    /// The name is a directory or a special file, not a regular file.
    NotAFile,
    /// The operating system refused to look (permissions, I/O error).
    Io(io::Error),
}

impl NameError {
    /// The protocol code that answers this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            NameError::Empty
            | NameError::TooLong
            | NameError::ControlChar
            | NameError::Backslash
            | NameError::OddComponent => ErrorCode::BadRequest,
            NameError::Absolute
            | NameError::ParentDir
            | NameError::Hidden
            | NameError::OutsideShare => ErrorCode::Forbidden,
            NameError::NotFound | NameError::NotAFile => ErrorCode::NotFound,
            NameError::Io(e) if e.kind() == io::ErrorKind::PermissionDenied => ErrorCode::Forbidden,
            NameError::Io(_) => ErrorCode::Internal,
        }
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the file name is empty"),
            NameError::TooLong => write!(f, "the file name is longer than {MAX_NAME_LEN} bytes"),
            NameError::ControlChar => write!(
                f,
                "the file name contains a control or bidirectional character"
            ),
            NameError::Backslash => write!(f, "the file name contains a backslash"),
            NameError::Absolute => write!(f, "absolute paths are not served"),
            NameError::ParentDir => write!(f, "'..' is not allowed in a file name"),
            NameError::OddComponent => {
                write!(f, "the file name has a '.' or an empty path component")
            }
            NameError::Hidden => write!(f, "hidden files (starting with '.') are not served"),
            NameError::OutsideShare => write!(f, "the file lies outside the shared directory"),
            NameError::NotFound => write!(f, "no such file"),
            NameError::NotAFile => write!(f, "not a regular file"),
            // The OS message (e.g. "Permission denied") carries no path.
            NameError::Io(e) => write!(f, "cannot open the file: {}", e.kind()),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a requested name by its text alone (no file system access).
///
/// ```
/// use feira::p2p::share::check_name;
/// assert!(check_name("Maçã verde.jpg").is_ok());
/// assert!(check_name("photos/2024/beach.png").is_ok());
/// assert!(check_name("../secret").is_err());
/// ```
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    // NUL, `\n`, `\r`, `\t`, DEL, the C1 controls and the bidirectional controls.
    if name.chars().any(names::is_refused) {
        return Err(NameError::ControlChar);
    }
    if name.contains('\\') {
        return Err(NameError::Backslash);
    }
    if name.starts_with('/') || Path::new(name).is_absolute() {
        return Err(NameError::Absolute);
    }
    // Split by hand rather than with `Path::components`, which silently drops `.` and
    // empty components: we want to refuse odd names, not reinterpret them.
    for part in name.split('/') {
        match part {
            ".." => return Err(NameError::ParentDir),
            "" | "." => return Err(NameError::OddComponent),
            _ if part.starts_with('.') => return Err(NameError::Hidden),
            _ => {}
        }
    }
    // Belt and braces: on Windows, `C:x` has a prefix component but no leading `/`.
    if Path::new(name)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(NameError::Absolute);
    }
    Ok(())
}

/// The shared folder: a directory whose regular files may be served to other peers.
#[derive(Debug, Clone)]
pub struct SharedFolder {
    /// The canonical path (absolute, no symlinks): what every resolved path must start with.
    root: PathBuf,
}

impl SharedFolder {
    /// Opens a shared folder. It must exist and be a directory.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<SharedFolder> {
        let root = fs::canonicalize(dir.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(SharedFolder { root })
    }

    /// The canonical path of the shared folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the regular file that `name` designates, or why it is refused.
    ///
    /// The returned path is canonical: every symlink has been followed, and it lies
    /// inside [`SharedFolder::root`].
    pub fn resolve(&self, name: &str) -> Result<PathBuf, NameError> {
        check_name(name)?;
        let path = match fs::symlink_metadata(self.root.join(name)) {
            Ok(_) => self.root.join(name),
            // The exact bytes name nothing: the file may be there in another normal form.
            Err(_) => self.in_any_normal_form(name),
        };
        let real = fs::canonicalize(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => NameError::NotFound,
            _ => NameError::Io(e),
        })?;
        // `starts_with` compares whole components, so `/share-evil` does not pass for
        // `/share`.
        let Ok(inside) = real.strip_prefix(&self.root) else {
            return Err(NameError::OutsideShare);
        };
        // A harmless-looking symlink may still lead to a hidden file inside the share.
        if inside
            .components()
            .any(|c| c.as_os_str().as_encoded_bytes().starts_with(b"."))
        {
            return Err(NameError::Hidden);
        }
        let meta = fs::metadata(&real).map_err(NameError::Io)?;
        if !meta.is_file() {
            return Err(NameError::NotAFile);
        }
        Ok(real)
    }

    /// The path of `name` (already checked) under the share, each component matched by
    /// its NFC form when its exact bytes are not there. A component that matches nothing
    /// is kept as it is, so the caller's lookup fails with "not found".
    fn in_any_normal_form(&self, name: &str) -> PathBuf {
        let mut path = self.root.clone();
        for part in name.split('/') {
            let exact = path.join(part);
            if fs::symlink_metadata(&exact).is_ok() {
                path = exact;
                continue;
            }
            let wanted = names::nfc(part);
            let found = fs::read_dir(&path).ok().and_then(|entries| {
                entries.filter_map(Result::ok).find(|entry| {
                    let entry_name = entry.file_name();
                    entry_name
                        .to_str()
                        .is_some_and(|text| names::nfc(text) == wanted)
                })
            });
            path = found.map_or(exact, |entry| entry.path());
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> String {
        match check_name(name) {
            Ok(()) => panic!("{name:?} should be refused"),
            Err(e) => format!("{:?}", e),
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "a",
            "report.pdf",
            "Maçã verde.jpg",
            "fotos/2024/praia.png",
            "a..b",
            "x.",
            "日本語",
        ] {
            assert!(check_name(name).is_ok(), "{name:?} should pass");
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert_eq!(refused(""), "Empty");
        assert!(check_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
        assert_eq!(refused(&"a".repeat(MAX_NAME_LEN + 1)), "TooLong");
    }

    #[test]
    fn control_characters_are_refused() {
        for name in [
            "a\0b",
            "a\nb",
            "a\rb",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}",
            "esc\u{1b}[2J",
            "gpj.\u{202e}exe",
            "x\u{2066}y",
        ] {
            assert_eq!(refused(name), "ControlChar", "{name:?}");
        }
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        assert_eq!(refused(".."), "ParentDir");
        assert_eq!(refused("../x"), "ParentDir");
        assert_eq!(refused("a/../../x"), "ParentDir");
        assert_eq!(refused("/etc/passwd"), "Absolute");
        assert_eq!(refused("..\\x"), "Backslash");
    }

    #[test]
    fn odd_and_hidden_components_are_refused() {
        assert_eq!(refused("./a"), "OddComponent");
        assert_eq!(refused("a//b"), "OddComponent");
        assert_eq!(refused("a/"), "OddComponent");
        assert_eq!(refused(".ssh/id_ed25519"), "Hidden");
        assert_eq!(refused("dir/.x.part-1234"), "Hidden");
    }

    #[test]
    fn every_refusal_maps_to_a_protocol_code() {
        assert_eq!(NameError::ParentDir.code(), ErrorCode::Forbidden);
        assert_eq!(NameError::ControlChar.code(), ErrorCode::BadRequest);
        assert_eq!(NameError::NotFound.code(), ErrorCode::NotFound);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(NameError::Io(denied).code(), ErrorCode::Forbidden);
    }

    /// A shared folder with a file, a subdirectory, and a secret next to it.
    struct Fixture {
        _tmp: tempfile::TempDir,
        share: SharedFolder,
        outside: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let share_path = tmp.path().join("share");
        fs::create_dir_all(share_path.join("sub")).unwrap();
        fs::write(share_path.join("file.txt"), b"hello").unwrap();
        fs::write(share_path.join("sub/inner.bin"), [0u8; 3]).unwrap();
        fs::write(share_path.join(".hidden"), b"no").unwrap();
        let outside = tmp.path().join("secret.txt");
        fs::write(&outside, b"secret").unwrap();
        let share = SharedFolder::open(&share_path).unwrap();
        Fixture {
            _tmp: tmp,
            share,
            outside,
        }
    }

    #[test]
    fn resolves_files_inside_the_share() {
        let f = fixture();
        let path = f.share.resolve("file.txt").unwrap();
        assert_eq!(path, f.share.root().join("file.txt"));
        assert!(f.share.resolve("sub/inner.bin").is_ok());
    }

    #[test]
    fn a_name_is_found_whatever_its_normal_form_on_disk() {
        let f = fixture();
        // Stored with combining accents (NFD), asked for as the server lists it (NFC).
        fs::create_dir(f.share.root().join("Fe\u{301}rias")).unwrap();
        fs::write(
            f.share.root().join("Fe\u{301}rias/Mac\u{327}a\u{303}.txt"),
            b"nfd",
        )
        .unwrap();
        fs::write(f.share.root().join("Caj\u{fa}.txt"), b"nfc").unwrap();
        let found = f.share.resolve("F\u{e9}rias/Ma\u{e7}\u{e3}.txt").unwrap();
        assert_eq!(fs::read(found).unwrap(), b"nfd");
        let found = f.share.resolve("Caju\u{301}.txt").unwrap();
        assert_eq!(fs::read(found).unwrap(), b"nfc");
        assert!(matches!(
            f.share.resolve("F\u{e9}rias/nada.txt"),
            Err(NameError::NotFound)
        ));
    }

    #[test]
    fn missing_files_and_directories_are_not_found() {
        let f = fixture();
        assert!(matches!(f.share.resolve("nope"), Err(NameError::NotFound)));
        assert!(matches!(
            f.share.resolve("file.txt/x"),
            Err(NameError::NotFound)
        ));
        assert!(matches!(f.share.resolve("sub"), Err(NameError::NotAFile)));
    }

    #[test]
    fn parent_dir_never_reaches_the_file_system() {
        let f = fixture();
        // The secret exists at share/../secret.txt, but the name is refused by its text.
        assert!(matches!(
            f.share.resolve("../secret.txt"),
            Err(NameError::ParentDir)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leading_outside_are_refused() {
        let f = fixture();
        let root = f.share.root();
        std::os::unix::fs::symlink(&f.outside, root.join("innocent.txt")).unwrap();
        std::os::unix::fs::symlink(f.outside.parent().unwrap(), root.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        assert!(matches!(
            f.share.resolve("innocent.txt"),
            Err(NameError::OutsideShare)
        ));
        assert!(matches!(
            f.share.resolve("up/secret.txt"),
            Err(NameError::OutsideShare)
        ));
        assert!(matches!(
            f.share.resolve("etc/passwd"),
            Err(NameError::OutsideShare)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_the_share_are_followed_but_not_to_hidden_files() {
        let f = fixture();
        let root = f.share.root();
        std::os::unix::fs::symlink("sub/inner.bin", root.join("alias.bin")).unwrap();
        std::os::unix::fs::symlink(".hidden", root.join("peek")).unwrap();
        assert_eq!(
            f.share.resolve("alias.bin").unwrap(),
            root.join("sub/inner.bin")
        );
        assert!(matches!(f.share.resolve("peek"), Err(NameError::Hidden)));
    }

    proptest::proptest! {
        /// Whatever the input, a name that passes stays below the directory it is
        /// joined to: only ordinary, visible components, nothing that would make
        /// `join` climb up or start again from the root.
        #[test]
        fn accepted_names_only_go_down(name in "[a./\\\\\0\n é]{0,12}|\\PC{0,20}") {
            if check_name(&name).is_ok() {
                for component in Path::new(&name).components() {
                    let Component::Normal(part) = component else {
                        panic!("{name:?} has a {component:?} component");
                    };
                    proptest::prop_assert!(!part.as_encoded_bytes().starts_with(b"."));
                }
                proptest::prop_assert_eq!(Path::new("/share").join(&name).parent().map(|p| p.starts_with("/share")), Some(true));
            }
        }
    }

    #[test]
    fn a_share_must_be_a_directory() {
        let f = fixture();
        assert!(SharedFolder::open(f.share.root().join("file.txt")).is_err());
        assert!(SharedFolder::open(f.share.root().join("missing")).is_err());
    }
}
