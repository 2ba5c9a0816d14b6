//! Just enough of Redis's protocol to time it with the same client model as feira.
//!
//! Why inline commands: `PING\r\n` is a line, like a feira request, and `+PONG\r\n` is
//! a line, like a feira reply. Sending the same shape of bytes over the same kind of
//! connection (one thread, one request at a time, Nagle off) makes the comparison
//! between the two servers fair: the client's cost is the same on both sides.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One connection to a Redis server.
pub struct RedisClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
}

impl RedisClient {
    /// Connects with a timeout that also bounds every read and write.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<RedisClient> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(RedisClient {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            line: String::new(),
        })
    }

    /// Sends one inline command (the `\r\n` is added) and reads a one-line reply:
    /// `Ok(text)` for `+text` or `:number`, `Err(message)` for `-message`.
    pub fn call(&mut self, command: &str) -> io::Result<Result<String, String>> {
        self.writer.write_all(command.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        self.line.clear();
        // Replies to PING and INCRBY are a few bytes; a bound still keeps a confused
        // peer from filling our memory.
        let read = (&mut self.reader)
            .take(64 * 1024)
            .read_line(&mut self.line)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        let line = self.line.trim_end_matches(['\r', '\n']);
        match line.split_at_checked(1) {
            Some(("+" | ":", rest)) => Ok(Ok(rest.to_string())),
            Some(("-", rest)) => Ok(Err(rest.to_string())),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected reply from redis: {line:?}"),
            )),
        }
    }
}
