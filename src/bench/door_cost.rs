//! What one request costs, measured rather than estimated: the bytes it and its reply
//! put on the wire, and the server's CPU time. `make bench` compares the two doors
//! (the line protocol and gRPC) with it.
//!
//! - **Bytes on the wire**: the kernel counts every byte of every TCP connection
//!   (`TCP_INFO`: `tcpi_bytes_acked` sent, `tcpi_bytes_received`). A snapshot sums them
//!   over this process's own sockets connected to the server's address (found through
//!   /proc/self/fd), so it counts what each door really sends, framing, headers and
//!   HTTP/2's own frames included, whatever client library wrote it.
//! - **Server CPU**: `utime + stime` of the server's process in /proc/PID/stat, in clock
//!   ticks (`sysconf(_SC_CLK_TCK)`, usually 100 a second), so a run should last seconds.
//!
//! Both are read before and after a measured phase; the difference divided by the
//! requests answered is the cost per request. Bytes are compared socket by socket
//! (by local address): a connection opened or closed in between (the check of the
//! books opens its own) counts for nothing, instead of skewing the sum.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Counters read at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per socket to the server, by its local address: bytes sent (acknowledged by
    /// the server) and bytes received.
    pub sockets: BTreeMap<SocketAddr, (u64, u64)>,
    /// The server's CPU time so far, in clock ticks, if its pid was given.
    pub cpu_ticks: Option<u64>,
}

/// The cost of one request, averaged over a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    pub bytes_per_request: f64,
    pub bytes_per_reply: f64,
    /// Server CPU microseconds per request, if its pid was given.
    pub cpu_us_per_request: Option<f64>,
}

/// Reads the counters: the bytes of this process's sockets to `server`, and the CPU
/// time of `server_pid`.
pub fn snapshot(server: SocketAddr, server_pid: Option<u32>) -> Snapshot {
    Snapshot {
        sockets: sockets_to(server),
        cpu_ticks: server_pid.and_then(cpu_ticks),
    }
}

/// The cost per request between two snapshots, over `ops` requests.
pub fn cost(before: &Snapshot, after: &Snapshot, ops: u64) -> Cost {
    let (mut sent, mut received) = (0, 0);
    for (local, (s1, r1)) in &after.sockets {
        if let Some((s0, r0)) = before.sockets.get(local) {
            sent += s1.saturating_sub(*s0);
            received += r1.saturating_sub(*r0);
        }
    }
    let per = |bytes: u64| bytes as f64 / ops.max(1) as f64;
    let cpu_us_per_request = match (before.cpu_ticks, after.cpu_ticks) {
        (Some(from), Some(to)) => {
            let micros = to.saturating_sub(from) as f64 * 1e6 / ticks_per_second();
            Some(micros / ops.max(1) as f64)
        }
        _ => None,
    };
    Cost {
        bytes_per_request: per(sent),
        bytes_per_reply: per(received),
        cpu_us_per_request,
    }
}

/// `utime + stime` of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    ticks_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` from the text of a /proc/PID/stat file.
fn ticks_in(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count the
    // fields after its closing one, where field 3 is the first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The server's resident memory in KiB (VmRSS), and its thread count.
pub fn rss_and_threads(pid: u32) -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
    };
    (field("VmRSS"), field("Threads"))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system setting.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// `TCP_INFO`'s byte counters of each of this process's sockets whose peer is
/// `server`, by local address.
fn sockets_to(server: SocketAddr) -> BTreeMap<SocketAddr, (u64, u64)> {
    let mut sockets = BTreeMap::new();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return sockets;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if address(fd, libc::getpeername) != Some(server) {
            continue;
        }
        if let (Some(local), Some(bytes)) = (address(fd, libc::getsockname), tcp_bytes(fd)) {
            sockets.insert(local, bytes);
        }
    }
    sockets
}

/// One end of a socket (`getpeername` or `getsockname`), if `fd` is an IP socket.
fn address(
    fd: i32,
    which: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> Option<SocketAddr> {
    // SAFETY: getpeername and getsockname write at most `len` bytes into the zeroed
    // storage, and return an error for a descriptor that is not a socket.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let done = unsafe {
        which(
            fd,
            (&raw mut storage).cast::<libc::sockaddr>(),
            &raw mut len,
        )
    };
    if done != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4: libc::sockaddr_in = unsafe { std::ptr::read((&raw const storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(v4.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const storage).cast()) };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(v6.sin6_port)))
        }
        _ => None,
    }
}

/// A TCP socket's bytes sent (acknowledged) and received, from the kernel.
fn tcp_bytes(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: getsockopt writes at most `len` bytes into the zeroed struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let done = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    (done == 0).then_some((info.tcpi_bytes_acked, info.tcpi_bytes_received))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn the_kernel_counts_the_bytes_of_this_process_s_sockets_to_a_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(server).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        let before = snapshot(server, None);
        client.write_all(&[7; 1000]).unwrap();
        let mut got = [0; 1000];
        accepted.read_exact(&mut got).unwrap();
        accepted.write_all(&[1; 300]).unwrap();
        let mut reply = [0; 300];
        client.read_exact(&mut reply).unwrap();
        // The acknowledgement of the last bytes may trail the read by a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut after = snapshot(server, None);
        while cost(&before, &after, 1).bytes_per_request < 1000.0
            && std::time::Instant::now() < deadline
        {
            std::thread::yield_now();
            after = snapshot(server, None);
        }
        let cost = cost(&before, &after, 2);
        assert_eq!(
            (cost.bytes_per_request, cost.bytes_per_reply),
            (500.0, 150.0)
        );
    }

    #[test]
    fn cpu_time_is_utime_plus_stime_even_with_spaces_in_the_command_name() {
        let stat = "4242 (feira server) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 9 0";
        assert_eq!(ticks_in(stat), Some(1234 + 567));
        assert_eq!(ticks_in("4242 (x) S 1"), None);
        assert!(cpu_ticks(std::process::id()).is_some());
    }
}
