//! A blocking, typed client: one TCP connection, one request at a time.
//!
//! Why a library and not code inside `feira-cli`: the CLI, the benchmark and the
//! integration tests all talk to the server through this one type, so a protocol
//! change is made in one place and tested everywhere.

use std::io::{self, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::protocol::{DEFAULT_MAX_LINE, Reply, Request, Secret};

/// A connection to a feira server.
pub struct Client {
    reader: BufReader<TcpStream>,
    /// The request being sent. It is written whole, in one call, to the socket the
    /// reader owns (`&TcpStream` writes too): one file descriptor per connection, so a
    /// benchmark can hold ten thousand connections under a 20,000 open-files limit.
    outgoing: Vec<u8>,
    /// The longest reply line accepted. Replies can carry long data lines (a product
    /// name may be long), so this is more generous than the server's request limit.
    max_line: usize,
}

impl Client {
    /// Connects, giving up after `timeout` (also used for every read and write).
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Client> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => return Client::from_stream(stream, Some(timeout)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("the address resolved to nothing")))
    }

    /// Connects from a chosen local IP address (any port), giving up after `timeout`.
    /// Linux routes all of 127.0.0.0/8 to the loopback interface, so a benchmark or a test
    /// can play several clients on one machine, from 127.0.0.2, 127.0.0.3, ... (std's
    /// `TcpStream` cannot bind before it connects; `socket2` can).
    pub fn connect_from(local: IpAddr, addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SocketAddr::new(local, 0).into())?;
        socket.connect_timeout(&addr.into(), timeout)?;
        Client::from_stream(socket.into(), Some(timeout))
    }

    /// Wraps a connected stream. `timeout` bounds every read and write (`None`: wait forever).
    pub fn from_stream(stream: TcpStream, timeout: Option<Duration>) -> io::Result<Client> {
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        // Requests are small and we wait for each reply: send them at once.
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream),
            outgoing: Vec::with_capacity(256),
            max_line: 16 * DEFAULT_MAX_LINE,
        })
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: &Request) -> io::Result<Reply> {
        self.call_line(&request.to_line())
    }

    /// Sends one raw line (the line ending is added) and waits for the reply.
    /// Useful in tests and for verbs this client version does not know.
    pub fn call_line(&mut self, line: &str) -> io::Result<Reply> {
        self.send_line(line)?;
        self.read_reply()
    }

    /// Sends one raw line without waiting for the reply.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        self.outgoing.clear();
        self.outgoing.extend_from_slice(line.as_bytes());
        self.outgoing.push(b'\n');
        let mut socket: &TcpStream = self.reader.get_ref();
        socket.write_all(&self.outgoing)
    }

    /// Reads the next reply. The server closing the connection is an error here.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        Reply::read_from(&mut self.reader, self.max_line)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        })
    }

    /// Logs in, turning a refusal into an error.
    pub fn login(&mut self, user: &str, password: &str) -> io::Result<()> {
        let reply = self.call(&Request::Login {
            user: user.to_string(),
            password: Secret(password.to_string()),
        })?;
        match reply.status {
            Ok(_) => Ok(()),
            Err(refusal) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                refusal.to_string(),
            )),
        }
    }
}
