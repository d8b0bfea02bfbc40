//! A client's view of one connection in the lab: opened from a chosen source address and port,
//! so the kernel's trace and conntrack entry can be found again, with a short fixed timeout, and
//! read to the end of the answer. Over UDP, one datagram asks and one answers; an ICMP port
//! unreachable comes back to the connected socket as a refusal.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr as RawAddr, Socket, Type};

use crate::server::POD_HEADER;

/// How long a connection may take before it counts as dropped. Inside one machine a SYN is
/// answered in microseconds; a DROP shows up only as this timeout. It leaves the kernel's first
/// SYN retransmission (after 1 s) a further 1.5 s to be answered, so a SYN lost in the lab's own
/// bridges on a loaded machine is sent again rather than read as a DROP: CI saw a DNATed
/// connection time out at 0.9 s, and once, with both labs of `--jobs 2` busy, at 1.5 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2500);

/// What happened to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer: its status, the pod that sent it (if a pod did) and its body.
    Answered { status: u16, pod: Option<String>, body: String },
    /// Refused at once: a TCP reset or an ICMP port-unreachable (REJECT).
    Refused,
    /// No answer before [`CONNECT_TIMEOUT`]: dropped.
    TimedOut,
    /// The kernel had no route, or an ICMP host/network unreachable came back.
    Unreachable,
    /// Anything else, as the OS said it.
    Failed(String),
}

/// Connects from `src` to `dst` over `proto` and asks for `path`; must run inside the source's
/// namespace. Returns what happened and the source address the connection had (the kernel picks
/// it when `src` has the unspecified address).
pub fn request(
    proto: svcsim_core::net::Protocol,
    src: SocketAddr,
    dst: SocketAddr,
    path: &str,
) -> (Outcome, SocketAddr) {
    match proto {
        svcsim_core::net::Protocol::Udp => datagram(src, dst, path),
        _ => stream(src, dst, path),
    }
}

fn stream(src: SocketAddr, dst: SocketAddr, path: &str) -> (Outcome, SocketAddr) {
    let socket = match open(src) {
        Ok(s) => s,
        Err(e) => return (Outcome::Failed(format!("binding {src}: {e}")), src),
    };
    let connected = socket.connect_timeout(&RawAddr::from(dst), CONNECT_TIMEOUT);
    let local = socket.local_addr().ok().and_then(|a| a.as_socket()).unwrap_or(src);
    (exchange(socket, connected, dst, path), local)
}

fn exchange(socket: Socket, connected: std::io::Result<()>, dst: SocketAddr, path: &str) -> Outcome {
    if let Err(e) = connected {
        return error_outcome(&e);
    }
    let mut stream: std::net::TcpStream = socket.into();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let asked = format!("GET {path} HTTP/1.1\r\nHost: {dst}\r\nConnection: close\r\n\r\n");
    if let Err(e) = stream.write_all(asked.as_bytes()) {
        return Outcome::Failed(format!("sending the request: {e}"));
    }
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => parse(&String::from_utf8_lossy(&answer)),
        Err(e) if answer.is_empty() => Outcome::Failed(format!("reading the answer: {e}")),
        Err(_) => parse(&String::from_utf8_lossy(&answer)),
    }
}

/// One datagram out, one back: no answer within [`CONNECT_TIMEOUT`] is a drop.
fn datagram(src: SocketAddr, dst: SocketAddr, path: &str) -> (Outcome, SocketAddr) {
    let opened = (|| -> std::io::Result<std::net::UdpSocket> {
        let socket = Socket::new(Domain::for_address(src), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&RawAddr::from(src))?;
        // Connected, so an ICMP error for this flow is reported to the socket.
        socket.connect(&RawAddr::from(dst))?;
        Ok(socket.into())
    })();
    let socket = match opened {
        Ok(s) => s,
        Err(e) => return (Outcome::Failed(format!("opening udp {src} > {dst}: {e}")), src),
    };
    let local = socket.local_addr().unwrap_or(src);
    let asked = format!("GET {path} HTTP/1.1\r\nHost: {dst}\r\n\r\n");
    // UDP has no retransmission of its own: like TCP's SYN after 1 s, the datagram is sent
    // once more from the same port (the same conntrack entry) if no answer came, so a datagram
    // lost in the lab's bridges on a loaded machine is not read as a DROP.
    let _ = socket.set_read_timeout(Some(RESEND_AFTER));
    match socket.send(asked.as_bytes()) {
        Ok(_) => {}
        // The host's own datagram, dropped by a rule on its way out: send() fails with EPERM,
        // whether the rule was a DROP or a REJECT. A REJECT also queues its ICMP port
        // unreachable on the socket, which tells the two apart.
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 16];
            let outcome = match socket.recv(&mut buf) {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => Outcome::Refused,
                _ => Outcome::TimedOut,
            };
            return (outcome, local);
        }
        Err(e) => return (error_outcome(&e), local),
    }
    let mut buf = [0u8; 4096];
    let mut answer = socket.recv(&mut buf);
    if answer.as_ref().is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)) {
        let _ = socket.set_read_timeout(Some(CONNECT_TIMEOUT - RESEND_AFTER));
        if socket.send(asked.as_bytes()).is_ok() {
            answer = socket.recv(&mut buf);
        }
    }
    let outcome = match answer {
        Ok(n) => parse(&String::from_utf8_lossy(&buf[..n])),
        Err(e) => error_outcome(&e),
    };
    (outcome, local)
}

/// When an unanswered datagram is sent again.
const RESEND_AFTER: Duration = Duration::from_millis(750);

fn error_outcome(e: &std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::ConnectionRefused => Outcome::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Outcome::TimedOut,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Outcome::Unreachable,
        _ => Outcome::Failed(e.to_string()),
    }
}

fn open(src: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(src), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&RawAddr::from(src))?;
    Ok(socket)
}

/// An HTTP/1.1 answer's status, pod header and body.
fn parse(text: &str) -> Outcome {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Outcome::Failed(format!("not an HTTP answer: {:?}", text.chars().take(60).collect::<String>()));
    };
    let pod = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case(POD_HEADER))
        .map(|(_, v)| v.trim().to_string());
    Outcome::Answered { status, pod, body: body.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_with_their_pod() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Svcsim-Pod: web-1\r\n\r\n::ffff:10.240.0.5";
        assert_eq!(
            parse(text),
            Outcome::Answered { status: 200, pod: Some("web-1".into()), body: "::ffff:10.240.0.5".into() }
        );
        assert!(matches!(parse("garbage"), Outcome::Failed(_)));
    }
}
