//! Who may see the instructor's pages: an admin, or whoever holds the start-up token.
//!
//! The statistics and the dashboard are for the instructor. A request shows it is
//! theirs in one of two ways:
//!
//! - **the token** the server prints at start-up (as notebook servers do): 32 bytes
//!   from the operating system's random source, as 64 hex digits, in the address
//!   (`/?token=...`) or as `Authorization: Bearer ...`. Nobody guesses 256 bits, so a
//!   wrong token costs nothing to check and needs no throttle; it is compared in
//!   constant time all the same, so that the time of a refusal says nothing about it;
//! - **an admin's name and password**, by HTTP Basic authentication: the same argon2id
//!   check as LOGIN (`accounts::authenticate`, through the hash gate), behind the same
//!   login throttle (a name guessed over HTTP spends the same buckets as over the
//!   socket), so the web door is no way around either.
//!
//! Anything else is `401`, with `WWW-Authenticate: Basic` so that a browser asks for a
//! name and password; a refusal by the throttle is `429`. A customer's right password
//! is still `401`: the pages are not theirs.
//!
//! A page opened with a password would make the browser send it again with every
//! request, and cost a 25 ms hash each time; so the dashboard, once served, carries
//! the token and polls with it (src/http/routes.rs).

use std::fmt;

use crate::accounts::{self, throttle};
use crate::db::schema::Role;
use crate::protocol::names;
use crate::server::Shared;

use super::head::Head;
use super::response::Response;

/// The start-up token: 64 hex digits.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A new token from the operating system's random source.
    pub fn generate() -> Result<Token, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no random source for the token: {e}"))?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as printed and as sent back.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Is `offered` this token? Every byte is compared, whatever the first difference.
    fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// Never printed by accident: a log line with a `Token` in it shows no secret.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// How a request showed it is the instructor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// With the start-up token.
    Token,
    /// With this admin's name and password.
    Admin(String),
}

/// Lets the request in, or says why not (the response to send).
pub fn check(head: &Head, shared: &Shared, token: &Token, peer: &str) -> Result<Viewer, Response> {
    let authorization = head.header("authorization").unwrap_or("");
    let (scheme, credentials) = authorization.split_once(' ').unwrap_or(("", ""));
    if let Some(offered) = head.param("token") {
        return match token.matches(offered) {
            true => Ok(Viewer::Token),
            false => Err(unauthorized("wrong token")),
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        return match token.matches(credentials.trim()) {
            true => Ok(Viewer::Token),
            false => Err(unauthorized("wrong token")),
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        return admin_password(credentials.trim(), shared, peer);
    }
    Err(unauthorized(
        "an admin's name and password, or the token the server printed at start-up",
    ))
}

/// HTTP Basic: `base64(name:password)`, checked as LOGIN checks it.
fn admin_password(encoded: &str, shared: &Shared, peer: &str) -> Result<Viewer, Response> {
    let decoded = decode_base64(encoded).ok_or_else(|| unauthorized("credentials not base64"))?;
    let text = String::from_utf8(decoded).map_err(|_| unauthorized("credentials not UTF-8"))?;
    let (name, password) = text
        .split_once(':')
        .ok_or_else(|| unauthorized("credentials are name:password"))?;
    // The name in its canonical form, as LOGIN takes it (src/protocol/names.rs).
    let name = names::user_name(name);
    // Refused at once when over a limit, before any hashing; otherwise the hash runs
    // in turn at the hash gate, with no lock held (src/accounts/throttle.rs).
    let attempt = shared
        .throttle
        .admit_login(&shared.hash_gate, &name, throttle::client_address(peer))
        .map_err(|refusal| Response::error(429, &refusal.message))?;
    match accounts::authenticate(&shared.db, &shared.hash_gate, &name, password) {
        Ok(user) => {
            // The password was right: its tokens go back, whatever the role.
            attempt.succeeded();
            match user.role {
                Role::Admin => Ok(Viewer::Admin(user.name)),
                Role::Customer => Err(unauthorized("the statistics are for an admin")),
            }
        }
        Err(refusal) => {
            // Dropping the attempt counts the failure, as LOGIN's does.
            drop(attempt);
            log::warn!("http {peer}: failed login for {name}");
            Err(unauthorized(&refusal.message))
        }
    }
}

/// `401`, asking a browser for a name and password.
fn unauthorized(message: &str) -> Response {
    Response::error(401, message).with_header("WWW-Authenticate", "Basic realm=\"feira\"")
}

/// Standard base64 (RFC 4648, with padding), as HTTP Basic writes credentials; `None`
/// for anything else. Twenty lines did not seem worth a crate.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_http_basic_writes_it() {
        assert_eq!(
            decode_base64("YWRtaW46YWRtaW4tcGFzcw==").unwrap(),
            b"admin:admin-pass"
        );
        assert_eq!(decode_base64("TWHDp8Oj").unwrap(), "Maçã".as_bytes());
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("").unwrap(), b"");
        for bad in ["YQ=", "Y===", "YQ==YQ==", "YW!=", "YWJj\n"] {
            assert!(decode_base64(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_token_matches_only_itself() {
        let token = Token::generate().unwrap();
        assert_eq!(token.as_str().len(), 64);
        assert!(token.matches(token.as_str()));
        assert!(!token.matches(&token.as_str()[..63]));
        assert!(!token.matches(""));
        let other = Token::generate().unwrap();
        assert!(!token.matches(other.as_str()));
        assert_eq!(format!("{token:?}"), "Token(..)");
    }
}
