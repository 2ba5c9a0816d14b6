//! The interactive client's own commands, as a newcomer meets them: `help` lists them
//! (and `help get_file` is answered by the client, not sent to a server that has never
//! heard of it), `get_file` before `connect` names the command to type, `publish` of a
//! file that is not in the shared folder is refused by the client, and the shared
//! folder and downloads stay out of the repository's own files.

mod support;

use std::path::Path;

use support::feira_cli::{command as cli, run};
use support::*;

#[test]
fn help_lists_the_clients_own_commands_and_answers_for_them() {
    let server = start_server();
    let run = run(
        cli(server.addr),
        "help\nhelp get_file\nhelp connect\nquit\n",
    );
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    // The server's verbs first, then the client's commands.
    let verbs = out.find("PRODUCTS").expect("the server's HELP");
    let own = out
        .find("This client's own commands")
        .unwrap_or_else(|| panic!("help does not list the client's commands:\n{out}"));
    assert!(verbs < own, "{out}");
    assert!(
        out.contains("get_file <user> <file> [local_path]: download a file"),
        "{out}"
    );
    assert!(out.contains("(menu 18)"), "{out}");
    // `help get_file` is answered here: the server was never asked.
    assert!(!out.contains("NOT_FOUND"), "{out}");
    // `help connect` shows the client's command, then the server's CONNECT.
    assert!(out.contains("connect [port]: share your files"), "{out}");
    assert!(out.contains("CONNECT") && out.contains("<port>"), "{out}");
}

#[test]
fn get_file_before_connect_names_the_clients_command_and_its_menu_number() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let mut command = cli(server.addr);
    command
        .arg("--download-dir")
        .arg(dir.path().join("downloads"));
    let run = run(
        command,
        "login alice alice-pass\nget_file bob notes.txt\nquit\n",
    );
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("get_file needs you sharing first: type connect (menu 14)"),
        "{out}"
    );
    assert!(!out.contains("CONNECT <port> first"), "{out}");
    assert!(!dir.path().join("downloads").exists());
}

#[test]
fn other_verbs_that_need_connect_name_the_clients_command_too() {
    let server = start_server();
    let run = run(
        cli(server.addr),
        "login alice alice-pass\nlist_users\nquit\n",
    );
    let out = &run.stdout;
    assert!(out.contains("NOT_CONNECTED"), "{out}");
    assert!(out.contains("type connect (menu 14)"), "{out}");
}

/// The files alice has published, as the server lists them.
fn published_by_alice(server: &TestServer) -> Vec<String> {
    let mut observer = server.login(ADMIN);
    ok(&mut observer, "CONNECT 9");
    ok(&mut observer, "LIST_CONTENT alice")
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
}

#[test]
fn publish_of_a_file_not_in_the_shared_folder_is_refused_by_the_client() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("notes.txt"), "class notes, week 3\n").unwrap();
    let mut command = cli(server.addr);
    command.arg("--share-dir").arg(&share);
    let script = "login alice alice-pass\nconnect\npublish ghost.txt \"no such file\"\n\
                  publish notes.txt \"class notes\"\nquit\n";
    let run = run(command, script);
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("not published: \"ghost.txt\" is not a file of your shared folder"),
        "{out}"
    );
    assert!(out.contains("published notes.txt"), "{out}");
    assert_eq!(published_by_alice(&server), ["notes.txt"]);
}

#[test]
fn the_shared_folder_and_downloads_default_under_state() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let mut command = cli(server.addr);
    command.current_dir(dir.path());
    let run = run(command, "login alice alice-pass\nconnect\nquit\n");
    assert_eq!(run.code(), Some(0), "stderr: {}", run.stderr);
    let shared = Path::new("state").join("share");
    assert!(
        run.stdout
            .contains(&format!("{} with other peers", shared.display())),
        "{}",
        run.stdout
    );
    assert!(dir.path().join(&shared).is_dir());
    assert!(!dir.path().join("share").exists());
}
