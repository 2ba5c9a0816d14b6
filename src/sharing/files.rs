//! Published files: the `files` table, and PUBLISH, DELETE and LIST_CONTENT.
//!
//! Why a table of its own (with its own lock): publishing is independent of the shop,
//! so a user publishing a file never waits for someone placing an order. And unlike the
//! set of connected peers, a user's published files outlive the connection and the
//! server: they are in `files.csv` and the journal, like every other table.
//!
//! The key is the pair (user, file name): two users may publish files with the same
//! name, and one user cannot publish the same name twice (seed 002's CONTENT ALREADY
//! PUBLISHED). Rows are sorted by user, then file name, so one user's files are one
//! contiguous range of the table.

use super::names;
use crate::clock::now_rfc3339;
use crate::db::Db;
use crate::db::identity;
use crate::db::schema::{Account, FileKey, SharedFile, User};
use crate::protocol::listing::Page;
use crate::protocol::{ErrorCode, Refusal};
use crate::storage::{Record, TableRead, TableWrite};

/// The most files one user may have published at once. A bound, so that one client
/// in a loop cannot grow the table (and every snapshot) without limit.
pub const MAX_FILES_PER_USER: usize = 10_000;

impl SharedFile {
    /// The file as a data line of LIST_CONTENT: name, description, time.
    pub fn to_row(&self) -> Vec<String> {
        vec![
            self.file_name.clone(),
            self.description.clone(),
            self.published_at.clone(),
        ]
    }
}

/// The keys of one user's files: every key from `(user, "")` while the user matches.
fn of_user_in<'a>(
    rows: &'a std::collections::BTreeMap<FileKey, SharedFile>,
    user: &'a str,
) -> impl Iterator<Item = &'a SharedFile> + 'a {
    rows.range(FileKey::new(user, "")..)
        .take_while(move |(key, _)| key.user == user)
        .map(|(_, file)| file)
}

/// The `files` write lock, for a change to the files of `account`, if it is still the
/// account of its name (AUTH_REQUIRED if it was deleted). Rows of `files` are keyed by
/// name, so without this a session of a deleted account could publish or withdraw
/// files of the next account to take its name.
///
/// Lock order (src/db.rs): `users` (read), then `files` (write). The `users` guard comes
/// back too, to be held until the change is committed: an UNREGISTER, which writes
/// `users`, cannot come between the check and the change.
fn lock_files_of<'a>(
    db: &'a Db,
    account: &Account,
) -> Result<(TableRead<'a, User>, TableWrite<'a, SharedFile>), Refusal> {
    let users = db.users.read();
    identity::own_account(&users, account)?;
    Ok((users, db.files.write()))
}

/// Publishes a file in the name of `account`. The caller has checked that it is
/// connected.
pub fn publish(
    db: &Db,
    account: &Account,
    file_name: &str,
    description: &str,
) -> Result<SharedFile, Refusal> {
    // Cheap checks first, outside every lock.
    names::check_file_name(file_name)?;
    names::check_description(description)?;
    let user = account.name.as_str();
    let file = SharedFile {
        user: user.to_string(),
        file_name: file_name.to_string(),
        description: description.to_string(),
        published_at: now_rfc3339(),
    };
    let (_users, mut files) = lock_files_of(db, account)?;
    // The check and the insert are one critical section: two sessions of one user
    // publishing the same name at once get one OK and one CONFLICT.
    if files.contains_key(&file.key()) {
        return Err(Refusal::new(
            ErrorCode::Conflict,
            format!("you have already published {file_name:?}: DELETE it first to change it"),
        ));
    }
    if of_user_in(&files, user).count() >= MAX_FILES_PER_USER {
        return Err(Refusal::new(
            ErrorCode::Conflict,
            format!(
                "you have published {MAX_FILES_PER_USER} files, the most allowed: DELETE some first"
            ),
        ));
    }
    files.stage_put(file.clone());
    db.journal
        .commit(&mut [&mut files])
        .map_err(Refusal::internal)?;
    Ok(file)
}

/// Withdraws a file that `account` published (seed 002's CONTENT NOT PUBLISHED if
/// absent).
pub fn delete(db: &Db, account: &Account, file_name: &str) -> Result<(), Refusal> {
    let key = FileKey::new(&account.name, file_name);
    let (_users, mut files) = lock_files_of(db, account)?;
    if !files.contains_key(&key) {
        return Err(Refusal::new(
            ErrorCode::NotFound,
            format!("you have not published {file_name:?}: LIST_CONTENT shows what you have"),
        ));
    }
    files.stage_delete(key);
    db.journal
        .commit(&mut [&mut files])
        .map_err(Refusal::internal)?;
    Ok(())
}

/// The first `count` files `user` has published, sorted by name, and how many they
/// have published in all. `NOT_FOUND` if there is no such account (seed 002's REMOTE
/// USER DOES NOT EXIST); a user who exists but is not connected still has a list,
/// since published files outlive connections.
///
/// Why by name and not newest first: names are the table's order (a user's files are
/// one range of it), so the page is read straight off the range, and it is the order
/// `ls` lists a folder in. The rest of the range is counted (at most
/// [`MAX_FILES_PER_USER`]), never copied.
pub fn page_of(db: &Db, user: &str, count: usize) -> Result<Page<SharedFile>, Refusal> {
    // Lock order (src/db.rs): users before files. Both are read locks, held together
    // so that the answer is about one moment: an account deleted meanwhile cannot
    // show up with its files.
    let users = db.users.read();
    if !users.contains_key(user) {
        return Err(Refusal::new(
            ErrorCode::NotFound,
            format!("no user named {user:?}"),
        ));
    }
    let files = db.files.read();
    Ok(Page::collect(of_user_in(&files, user), count))
}

/// Stages the deletion of every file of `user` (the account is being deleted, in the
/// same transaction: see `accounts::unregister`). Returns how many.
pub fn stage_delete_all_of(files: &mut TableWrite<'_, SharedFile>, user: &str) -> usize {
    let keys: Vec<FileKey> = of_user_in(files, user).map(SharedFile::key).collect();
    for key in &keys {
        files.stage_delete(key.clone());
    }
    keys.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::testing::account_of;

    fn open_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        for name in ["alice", "bob", "alice2"] {
            let mut users = db.users.write();
            users.stage_put(crate::db::schema::User {
                id: db.account_ids.next(),
                name: name.into(),
                role: crate::db::schema::Role::Customer,
                password_hash: String::new(),
                created_at: String::new(),
            });
            db.journal.commit(&mut [&mut users]).unwrap();
        }
        (dir, db)
    }

    /// Every file of `user` (a page as long as the whole list).
    fn of_user(db: &Db, user: &str) -> Result<Vec<SharedFile>, Refusal> {
        page_of(db, user, usize::MAX).map(|page| page.rows)
    }

    fn names(files: &[SharedFile]) -> Vec<&str> {
        files.iter().map(|f| f.file_name.as_str()).collect()
    }

    #[test]
    fn publish_list_delete() {
        let (_dir, db) = open_db();
        publish(&db, &account_of(&db, "alice"), "b.txt", "second").unwrap();
        publish(
            &db,
            &account_of(&db, "alice"),
            "a b, c.txt",
            "first, \"quoted\"",
        )
        .unwrap();
        publish(&db, &account_of(&db, "alice2"), "z.txt", "").unwrap();
        publish(&db, &account_of(&db, "bob"), "b.txt", "bob's").unwrap();
        // alice's range does not leak into alice2's, whose name starts the same way.
        assert_eq!(
            names(&of_user(&db, "alice").unwrap()),
            ["a b, c.txt", "b.txt"]
        );
        assert_eq!(names(&of_user(&db, "bob").unwrap()), ["b.txt"]);
        let again = publish(&db, &account_of(&db, "alice"), "b.txt", "again").unwrap_err();
        assert_eq!(again.code, ErrorCode::Conflict);
        delete(&db, &account_of(&db, "alice"), "b.txt").unwrap();
        assert_eq!(
            delete(&db, &account_of(&db, "alice"), "b.txt")
                .unwrap_err()
                .code,
            ErrorCode::NotFound
        );
        assert_eq!(names(&of_user(&db, "alice").unwrap()), ["a b, c.txt"]);
        assert_eq!(names(&of_user(&db, "bob").unwrap()), ["b.txt"]);
        assert_eq!(
            of_user(&db, "nobody").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            publish(&db, &account_of(&db, "alice"), "../x", "")
                .unwrap_err()
                .code,
            ErrorCode::BadRequest
        );
        let mut files = db.files.write();
        assert_eq!(stage_delete_all_of(&mut files, "alice"), 1);
        db.journal.commit(&mut [&mut files]).unwrap();
        drop(files);
        assert!(of_user(&db, "alice").unwrap().is_empty());
        assert_eq!(names(&of_user(&db, "alice2").unwrap()), ["z.txt"]);
    }

    #[test]
    fn a_page_shows_the_first_names_and_counts_the_rest() {
        let (_dir, db) = open_db();
        for name in ["c.txt", "a.txt", "d.txt", "b.txt"] {
            publish(&db, &account_of(&db, "alice"), name, "").unwrap();
        }
        publish(&db, &account_of(&db, "alice2"), "a.txt", "").unwrap();
        let page = page_of(&db, "alice", 2).unwrap();
        assert_eq!(names(&page.rows), ["a.txt", "b.txt"]);
        assert_eq!(page.total, 4, "alice2's file is not counted as alice's");
        assert_eq!(page_of(&db, "alice", 10).unwrap().total, 4);
    }

    /// The race a session's check cannot close by itself: between the check and the
    /// locks, the account is deleted and its name registered again. Given the old
    /// account, PUBLISH, DELETE, CONNECT and DISCONNECT each refuse under their locks
    /// and change nothing of the new account's.
    #[test]
    fn a_deleted_accounts_session_cannot_touch_the_new_account_of_its_name() {
        use crate::protocol::Cents;
        use crate::sharing::ConnectedPeers;
        use crate::wallet::WalletPolicy;
        use crate::wallet::testing::{add_account, db_with, remove_account};
        let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
        let (_dir, db) = db_with(&["ana"], Cents(0));
        let peers = ConnectedPeers::default();
        let old = account_of(&db, "ana");
        remove_account(&db, "ana");
        let new = add_account(&db, "ana", &WalletPolicy::default());
        let gone = |refusal: Refusal| assert_eq!(refusal.code, ErrorCode::AuthRequired);
        // The old session cannot announce itself as the new account's peer...
        gone(peers.connect(&db, &old, loopback, 4000).unwrap_err());
        assert!(peers.is_empty());
        // ...nor touch what the new account publishes, nor its place among the peers.
        peers.connect(&db, &new, loopback, 5000).unwrap();
        publish(&db, &new, "new.txt", "").unwrap();
        let before = of_user(&db, "ana").unwrap();
        gone(publish(&db, &old, "old.txt", "").unwrap_err());
        gone(delete(&db, &old, "new.txt").unwrap_err());
        gone(peers.disconnect(&db, &old).unwrap_err());
        assert_eq!(of_user(&db, "ana").unwrap(), before);
        assert_eq!(peers.peer("ana").map(|peer| peer.port), Some(5000));
        // The new account, of course, can.
        delete(&db, &new, "new.txt").unwrap();
        peers.disconnect(&db, &new).unwrap();
    }

    #[test]
    fn published_files_survive_a_reopen() {
        let (dir, db) = open_db();
        publish(
            &db,
            &account_of(&db, "alice"),
            "Maçã, \"verde\".txt",
            "Descrição, com vírgula",
        )
        .unwrap();
        publish(&db, &account_of(&db, "alice"), "gone.txt", "").unwrap();
        delete(&db, &account_of(&db, "alice"), "gone.txt").unwrap();
        drop(db);
        // Replays the journal (put, put, del by key text) and checkpoints.
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        let files = of_user(&db, "alice").unwrap();
        assert_eq!(names(&files), ["Maçã, \"verde\".txt"]);
        assert_eq!(files[0].description, "Descrição, com vírgula");
        drop(db);
        // And again from the snapshot alone.
        let db = Db::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(of_user(&db, "alice").unwrap(), files);
    }
}
