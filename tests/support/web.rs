//! The web door beside a test server: [`start_web`] binds it on 127.0.0.1 port 0 with
//! a fresh token, and [`Web::get`] asks it for a path.

use std::time::Duration;

use feira::http::client::{self, Reply};
use feira::http::{RunningDoor, Token, WebDoor, WebLimits};

use super::server::TestServer;

/// A running web door; stopped when dropped.
pub struct Web {
    pub addr: String,
    pub token: Token,
    _door: RunningDoor,
}

/// The door with the default limits.
pub fn start_web(server: &TestServer) -> Web {
    start_web_with(server, WebLimits::default())
}

/// The door with these limits.
pub fn start_web_with(server: &TestServer, limits: WebLimits) -> Web {
    let token = Token::generate().expect("a token");
    let door = WebDoor::bind("127.0.0.1:0", server.shared.clone(), token.clone(), limits)
        .expect("the web door binds");
    let door = door.start().expect("the web door starts");
    Web {
        addr: door.addr.to_string(),
        token,
        _door: door,
    }
}

impl Web {
    /// `GET path` with no credentials.
    pub fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    /// `GET path` with these headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        client::get(&self.addr, path, headers, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET path` with the token as a bearer.
    pub fn get_as_instructor(&self, path: &str) -> Reply {
        let bearer = format!("Bearer {}", self.token.as_str());
        self.get_with(path, &[("Authorization", &bearer)])
    }
}

/// An `Authorization` value for HTTP Basic.
pub fn basic(name: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{name}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
