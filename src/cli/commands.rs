//! The interactive client's own commands: the ones it carries out itself, or checks
//! before it sends, instead of sending them as typed (`connect`, `get_file`, ...).
//!
//! Why a table: the server's HELP knows only the server's verbs, so `help` lists these
//! after it, and `help get_file` answers from here instead of asking the server about
//! a command it has never heard of. The interactive loop (src/cli/repl.rs) carries
//! them out; the menu (src/cli/menu.rs) reaches some of them by number.

/// One command of the client's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// What to type: `get_file`.
    pub name: &'static str,
    /// Its arguments, as a usage line shows them: `<user> <file> [local_path]`.
    pub args: &'static str,
    pub summary: &'static str,
    /// The menu entry that runs it, if one does.
    pub menu: Option<&'static str>,
    /// The server's verb it sends, if any: `help <name>` shows the server's help too.
    pub verb: Option<&'static str>,
}

/// The client's own commands, in the order `help` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "connect",
        args: "[port]",
        summary: "share your files: start this client's file listener (on the port, or any \
                  free one), serving your shared folder, and tell the server (CONNECT)",
        menu: Some("14"),
        verb: Some("CONNECT"),
    },
    Command {
        name: "publish",
        args: "<file> <description>",
        summary: "list a file of your shared folder; the client checks that the file is \
                  there first (the server cannot see your folder)",
        menu: Some("15"),
        verb: Some("PUBLISH"),
    },
    Command {
        name: "get_file",
        args: "<user> <file> [local_path]",
        summary: "download a file straight from another peer (the server only says where, \
                  with PEER); needs connect first",
        menu: Some("18"),
        verb: None,
    },
    Command {
        name: "disconnect",
        args: "",
        summary: "stop sharing: tell the server (DISCONNECT) and stop the file listener",
        menu: Some("19"),
        verb: Some("DISCONNECT"),
    },
    Command {
        name: "reconnect",
        args: "",
        summary: "open a new connection to the server, and log in again",
        menu: None,
        verb: None,
    },
    Command {
        name: "menu",
        args: "",
        summary: "show the numbered menu (? does too)",
        menu: None,
        verb: None,
    },
    Command {
        name: "help",
        args: "[verb or command]",
        summary: "the server's verbs, then these commands; help <name> for one",
        menu: Some("9"),
        verb: None,
    },
    Command {
        name: "quit",
        args: "",
        summary: "leave (exit, 0, Ctrl-C and the end of the input do too); stops sharing first",
        menu: Some("0"),
        verb: None,
    },
];

/// The command called `name` (any case), if the client has one.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// `get_file <user> <file> [local_path]`.
pub fn usage(command: &Command) -> String {
    if command.args.is_empty() {
        command.name.to_string()
    } else {
        format!("{} {}", command.name, command.args)
    }
}

/// One command as `help` shows it: usage, summary, and its menu number.
pub fn line(command: &Command) -> String {
    let menu = match command.menu {
        Some(key) => format!(" (menu {key})"),
        None => String::new(),
    };
    format!("{}: {}{menu}", usage(command), command.summary)
}

/// What `help` prints after the server's verbs.
pub fn lines() -> Vec<String> {
    let mut lines = vec!["This client's own commands (help <command> for one):".to_string()];
    lines.extend(COMMANDS.iter().map(|c| format!("  {}", line(c))));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::menu;

    #[test]
    fn each_menu_number_runs_the_command_it_names() {
        for command in COMMANDS {
            let Some(key) = command.menu else { continue };
            if key == menu::QUIT_KEY {
                assert_eq!(command.name, "quit");
                continue;
            }
            let entry = menu::find(key).unwrap_or_else(|| panic!("no menu entry {key}"));
            assert!(
                entry.verb.eq_ignore_ascii_case(command.name),
                "menu {key} sends {}, not {}",
                entry.verb,
                command.name
            );
        }
    }

    #[test]
    fn help_names_get_file_with_its_usage_and_menu_number() {
        assert!(find("GET_FILE").is_some());
        assert!(find("products").is_none());
        let text = lines().join("\n");
        assert!(
            text.contains("get_file <user> <file> [local_path]: download a file"),
            "{text}"
        );
        assert!(text.contains("(menu 18)"), "{text}");
    }
}
