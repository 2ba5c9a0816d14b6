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
        let event = AuditEvent::now(user, &self.peer, verb, token::join(arguments), result);
        self.audit_within_budget(shared, event);
    }

    /// Audits a file-sharing request of a logged-in user that could not be parsed
    /// (`CONNECT abc`). A session that has not logged in is never audited: anybody can
    /// open a connection, so its lines could fill the disk.
    pub(super) fn audit_unparsed(&mut self, shared: &Shared, line: &str, refusal: &Refusal) {
        if self.user.is_none() {
            return;
        }
        // The verb is the first word, found as the parser finds it (case does not
        // matter); a line whose verb is not a file-sharing one is not audited.
        let line = line.trim_start_matches([' ', '\t']);
        let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let Some(spec) = verb_spec(verb).filter(|s| FILE_SHARING_VERBS.contains(&s.name)) else {
            return;
        };
        // Re-quote the arguments as the protocol would, if they split at all.
        let arguments = match token::split(rest) {
            Ok(tokens) => token::join(&tokens),
            Err(_) => rest.to_string(),
        };
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
        let now = Instant::now();
        let limit = shared.config.audit.per_connection;
        // Made at the connection's first row: a connection that never shares a file
        // costs no bucket.
        let budget = self
            .audit_budget
            .get_or_insert_with(|| RowBudget::new(limit, now));
        match budget.admit(now) {
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
        let withheld = self
            .audit_budget
            .as_mut()
            .map_or(0, RowBudget::take_withheld);
        self.record_withheld(shared, withheld);
    }

    /// Writes the `AUDIT_LIMITED` row that says how many rows were withheld, if any.
    fn record_withheld(&self, shared: &Shared, withheld: u64) {
        let Some(budget) = &self.audit_budget else {
            return;
        };
        if withheld > 0 {
            // The message names the limit, so a reader of the log knows why.
            let message = withheld_message(withheld, budget.limit());
            let row = AuditEvent::now(self.name(), &self.peer, "AUDIT_LIMITED", message, "WARN");
            shared.audit.record(row);
        }
    }
}
