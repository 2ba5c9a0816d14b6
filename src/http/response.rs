//! An HTTP response: a status, a few headers, a body, written in one go.
//!
//! Every response says `Connection: close`: the door answers one request per
//! connection, so a browser that polls once a second holds a thread for a few
//! milliseconds, not for a keep-alive timeout. `Content-Length` is always given, so
//! the client knows the body is whole. `Cache-Control: no-store`: live figures must
//! never come from a cache, and neither must the token a page holds.

use serde_json::Value;

/// A response, ready to be encoded.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code: 200, 401, 404...
    pub status: u16,
    /// The body's media type.
    pub content_type: &'static str,
    /// Headers beyond those every response has (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// `200` with a JSON body.
    pub fn json(value: &Value) -> Response {
        Response::json_status(200, value)
    }

    /// A JSON body with this status.
    pub fn json_status(status: u16, value: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: format!("{value}\n").into_bytes(),
        }
    }

    /// `200` with an HTML page.
    pub fn html(page: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: page.into_bytes(),
        }
    }

    /// An error: JSON `{"error": ...}` with this status, so that scripts read every
    /// answer the same way.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json_status(status, &serde_json::json!({ "error": message }))
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The response as it goes on the wire. A `HEAD` request gets the head alone.
    pub fn encode(&self, with_body: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if with_body {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of each status the door sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_has_its_length_and_closes() {
        let bytes = Response::error(404, "no such page").encode(true);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Connection: close"));
        assert_eq!(body, "{\"error\":\"no such page\"}\n");
        let head_only = Response::error(404, "x").encode(false);
        assert!(head_only.ends_with(b"\r\n\r\n"));
    }
}
