//! The audit row of each file-sharing request, within the connection's row budget.
//!
//! Why the session decides what is audited, and not the audit thread: the audit log
//! protects clients from a slow disk (src/sharing/audit.rs), not the disk from one
//! client. What one connection can cause to be written must be bounded where the row is
//! made, before it reaches the channel that every connection shares: only logged-in
//! sessions are audited, arguments are cut short, and each connection has a token
//! bucket of rows ([`RowBudget`], src/sharing/audit_limit.rs). A row over the budget is
//! counted, and summed in one `AUDIT_LIMITED` row, so no gap is silent.

use std::time::Instant;

use crate::protocol::verbs::{FILE_SHARING_VERBS, verb_spec};
use crate::protocol::{Refusal, Reply, token};
use crate::server::Shared;
use crate::server::session::Session;
use crate::sharing::AuditEvent;
use crate::sharing::audit_limit::{Admit, RowBudget, shorten, withheld_message};

impl Session {
    /// Audits one handled file-sharing request: who, from where, what, and the result.
    pub(super) fn audit(
        &mut self,
        shared: &Shared,
        user: &str,
        verb: &'static str,
        arguments: &[String],
        reply: &Reply,
    ) {
        // The result is the reply's code: `OK`, or the refusal (`NOT_CONNECTED`), so
        // that refused requests are in the log too.
        let result = reply.code().map_or("OK", |code| code.known_name());
        // The arguments quoted back as the protocol writes them, so a row can be read
        // as the request that was sent.
        // `user` was noted before the request ran (`Session::handle`): a DISCONNECT or
        // a LOGIN as someone else is audited as the user who sent it.
        let event = AuditEvent::now(user, &self.peer, verb, token::join(arguments), result);
        self.audit_within_budget(shared, event);
    }

    /// Audits a file-sharing request of a logged-in user that could not be parsed
    /// (`CONNECT abc`). A session that has not logged in is never audited: anybody can
    /// open a connection, so its lines could fill the disk.
    pub(super) fn audit_unparsed(&mut self, shared: &Shared, line: &str, refusal: &Refusal) {
        // The same rule as for parsed requests: only a logged-in user is audited.
        if self.user.is_none() {
            return;
        }
        // The verb is the first word, found as the parser finds it (case does not
        // matter); a line whose verb is not a file-sharing one is not audited.
        // The parser's separators: spaces and tabs.
        let line = line.trim_start_matches([' ', '\t']);
        // A line with no space is all verb, and has no arguments.
        let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        // The verb table's list of file-sharing verbs, the same list that
        // `Request::is_file_sharing` follows for parsed requests.
        let Some(spec) = verb_spec(verb).filter(|s| FILE_SHARING_VERBS.contains(&s.name)) else {
            return;
        };
        // Re-quote the arguments as the protocol would, if they split at all.
        let arguments = match token::split(rest) {
            Ok(tokens) => token::join(&tokens),
            // An unclosed quote, say: the arguments as sent (they are shortened below).
            Err(_) => rest.to_string(),
        };
        // The verb's canonical spelling (`CONNECT`, whatever case was sent), and the
        // refusal's code as the result.
        let event = AuditEvent::now(
            self.name(),
            &self.peer,
            spec.name,
            arguments,
            refusal.code.known_name(),
        );
        self.audit_within_budget(shared, event);
    }

    /// Sends a request's audit row, its arguments shortened, if this connection's row
    /// budget allows it (after an `AUDIT_LIMITED` row for the rows it withheld before);
    /// otherwise counts it withheld.
    fn audit_within_budget(&mut self, shared: &Shared, mut event: AuditEvent) {
        // Cut after 64 characters, with the full length after: a row stays short
        // whatever the request line held.
        event.arguments = shorten(event.arguments);
        // One clock reading for the bucket's refill and its creation.
        let now = Instant::now();
        // The server's setting (`AuditOptions::per_connection`), the same for every
        // connection.
        let limit = shared.config.audit.per_connection;
        // Made at the connection's first row: a connection that never shares a file
        // costs no bucket.
        let budget = self
            .audit_budget
            .get_or_insert_with(|| RowBudget::new(limit, now));
        match budget.admit(now) {
            // A token was left: the row goes to the audit thread's channel.
            Admit::Write { withheld_before } => {
                // The gap first, then the row: the log reads in order.
                self.record_withheld(shared, withheld_before);
                shared.audit.record(event);
            }
            // Counted for STATS (`audit_limited`), and summed in the next row written.
            Admit::Withhold => shared.audit.count_limited(),
        }
    }

    /// When the connection ends: one `AUDIT_LIMITED` row for rows still withheld.
    pub(super) fn report_withheld_audit_rows(&mut self, shared: &Shared) {
        // No budget means no row was ever audited here, so none was withheld.
        let withheld = self
            .audit_budget
            .as_mut()
            .map_or(0, RowBudget::take_withheld);
        self.record_withheld(shared, withheld);
    }

    /// Writes the `AUDIT_LIMITED` row that says how many rows were withheld, if any.
    fn record_withheld(&self, shared: &Shared, withheld: u64) {
        // Only a connection with a budget can have withheld anything.
        let Some(budget) = &self.audit_budget else {
            return;
        };
        // No row at all when nothing was withheld: the common case.
        if withheld > 0 {
            // The message names the limit, so a reader of the log knows why.
            let message = withheld_message(withheld, budget.limit());
            // Not a verb: a row of the server's own, in the same file and columns.
            let row = AuditEvent::now(self.name(), &self.peer, "AUDIT_LIMITED", message, "WARN");
            // Not budgeted itself: it is at most one row per written row or connection.
            shared.audit.record(row);
        }
    }
}
