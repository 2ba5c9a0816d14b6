//! What is acknowledged survives a restart, and the demo files are never touched.

mod support;

use support::*;

#[test]
fn writes_survive_a_restart() {
    let server = start_server();
    let mut c = server.client();
    ok(&mut c, "REGISTER gabi gabi-pass");
    ok(&mut c, "LOGIN gabi gabi-pass");
    ok(&mut c, "ORDER Pera 7");
    let mut admin = server.login(ADMIN);
    ok(
        &mut admin,
        "ADD_PRODUCT \"Maçã verde, \\\"nova\\\"\" 4.20 9",
    );
    ok(&mut admin, "RESTOCK Caju -20");

    let server = server.restart();
    let mut c = server.login(("gabi", "gabi-pass"));
    let orders = ok(&mut c, "ORDERS");
    assert_eq!(orders.len(), 1);
    assert_eq!(&orders[0][1..5], ["Pera", "7", "3.10", "21.70"]);
    assert_eq!(ok(&mut c, "PRODUCT Pera")[0][2], "143");
    assert_eq!(ok(&mut c, "PRODUCT Caju")[0][2], "180");
    assert_eq!(
        ok(&mut c, "PRODUCT \"Maçã verde, \\\"nova\\\"\""),
        [["Maçã verde, \"nova\"", "4.20", "9"]]
    );
}

/// A write is in the journal (and on disk) before its reply: reading the data
/// directory while the server still runs, without a checkpoint, finds it.
#[test]
fn an_acknowledged_write_is_in_the_journal_before_the_reply() {
    let server = start_server();
    let mut c = server.login(ALICE);
    ok(&mut c, "ORDER Banana 3");
    let journal = journal_text(&server.data_dir());
    assert!(
        journal
            .lines()
            .any(|l| l.contains("orders,put") && l.contains("Banana")),
        "{journal}"
    );
}

/// Opening a data directory after a crash (no checkpoint) replays the journal.
#[test]
fn the_journal_is_replayed_after_a_crash() {
    let dir = demo_data_dir();
    {
        let db = feira::db::Db::open(dir.path(), 1 << 20).unwrap();
        let alice = db.users.read()["alice"].account();
        let order = feira::shop::orders::place(&db, &alice, "Caju", 5).unwrap();
        assert_eq!(order.id, 1);
        // Dropped without a checkpoint: as if the process had been killed.
    }
    let db = feira::db::Db::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(db.products.read()["Caju"].stock, 195);
    assert_eq!(db.orders.read().len(), 1);
    // Opening checkpointed: the snapshots now hold the order, and the journal is empty.
    let orders = std::fs::read_to_string(dir.path().join("orders.csv")).unwrap();
    assert!(orders.contains("alice,2,Caju,5"), "{orders}");
    let journal = journal_text(dir.path());
    assert_eq!(journal.lines().count(), 1, "only the header is left");
}

#[test]
fn a_checkpoint_keeps_the_journal_small() {
    let dir = demo_data_dir();
    let mut config = test_config(dir.path());
    config.checkpoint_bytes = 4096;
    let server = start_in(dir, config);
    let mut c = server.login(ALICE);
    for _ in 0..100 {
        ok(&mut c, "ORDER Banana 1");
    }
    // Due at 4 KiB or at twice the snapshots, whichever is more (src/db.rs, "When to
    // checkpoint"); one line may pass it before the checkpoint runs.
    let db = &server.shared.db;
    assert!(db.journal.len_bytes() < db.checkpoint_due_at() + 1024);
    assert!(
        db.checkpoint_due_at() < 64 * 1024,
        "the snapshots of 100 orders are small"
    );
    let orders = std::fs::read_to_string(server.data_dir().join("orders.csv")).unwrap();
    assert!(
        orders.lines().count() > 50,
        "checkpoints wrote the orders snapshot"
    );
    let server = server.restart();
    assert_eq!(server.shared.db.orders.read().len(), 100);
}

#[test]
fn the_tracked_demo_data_is_never_modified_by_tests() {
    // Tests run on copies; this guards against a support helper pointing at data/.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    assert!(
        !data.join("journal.csv").exists(),
        "data/ must not hold a journal"
    );
}
