//! A client's view of one connection in the lab: opened from a chosen source address and port,
//! so the kernel's trace and conntrack entry can be found again, with a short fixed timeout, and
//! read to the end of the answer. Over UDP, one datagram asks and one answers; an ICMP port
//! unreachable comes back to the connected socket as a refusal. A connection can also be
//! watched for the ICMPv6 errors the network sends back about it.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
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
/// it when `src` has the unspecified address). A link-local `src` without a scope is taken on
/// the interface that holds it.
pub fn request(
    proto: svcsim_core::net::Protocol,
    src: SocketAddr,
    dst: SocketAddr,
    path: &str,
) -> (Outcome, SocketAddr) {
    let src = scoped(src);
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

/// An ICMPv6 error that came back about one of a connection's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp6Error {
    /// Who sent it.
    pub from: IpAddr,
    /// Its type (1: destination unreachable) and code (2: beyond scope of source address).
    pub kind: u8,
    pub code: u8,
}

/// [`request`], and every ICMPv6 error about the connection's packets (those from its source
/// address and port) that reached the namespace meanwhile: a raw ICMPv6 socket sees a copy of
/// each, whether or not the connection's own socket was told.
pub fn request_watching_icmp6(
    proto: svcsim_core::net::Protocol,
    src: SocketAddr,
    dst: SocketAddr,
    path: &str,
) -> (Outcome, SocketAddr, Vec<Icmp6Error>) {
    let watcher = Socket::new(Domain::IPV6, Type::from(SOCK_RAW), Some(Protocol::ICMPV6)).ok();
    let (outcome, local) = request(proto, src, dst, path);
    let errors = watcher.map(|w| icmp6_errors(w, local)).unwrap_or_default();
    (outcome, local, errors)
}

/// `SOCK_RAW` (Linux's `<linux/net.h>`; socket2 names it only with its `all` feature).
const SOCK_RAW: i32 = 3;

/// The ICMPv6 errors queued on `watcher` whose quoted packet came from `local`.
fn icmp6_errors(watcher: Socket, local: SocketAddr) -> Vec<Icmp6Error> {
    // Read through std's datagram type: recvfrom on a raw socket returns the sender's address.
    let socket = std::net::UdpSocket::from(watcher);
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        if let Some((kind, code)) = quoted_error(&buf[..n], local) {
            out.push(Icmp6Error { from: from.ip(), kind, code });
        }
    }
    out
}

/// An ICMPv6 error message's type and code, if it is an error (types 1–4) quoting a TCP or UDP
/// packet from `local`.
fn quoted_error(msg: &[u8], local: SocketAddr) -> Option<(u8, u8)> {
    let (&kind, &code) = (msg.first()?, msg.get(1)?);
    if !(1..=4).contains(&kind) {
        return None;
    }
    // 8 bytes of ICMPv6 header, then the quoted IPv6 header (40 bytes) and transport header.
    let quoted = msg.get(8..)?;
    let src: [u8; 16] = quoted.get(8..24)?.try_into().ok()?;
    let next = *quoted.get(6)?;
    let sport = u16::from_be_bytes(quoted.get(40..42)?.try_into().ok()?);
    let from_local = IpAddr::V6(Ipv6Addr::from(src)) == local.ip() && sport == local.port();
    (matches!(next, 6 | 17) && from_local).then_some((kind, code))
}

/// `src` with its scope when it is a link-local IPv6 address given without one: the index of
/// the interface holding it in this thread's namespace (`/proc/thread-self/net/if_inet6`).
fn scoped(src: SocketAddr) -> SocketAddr {
    let SocketAddr::V6(v6) = src else { return src };
    if v6.scope_id() != 0 || !svcsim_core::net::is_link_local(IpAddr::V6(*v6.ip())) {
        return src;
    }
    let want: String = v6.ip().octets().iter().map(|b| format!("{b:02x}")).collect();
    let listing = std::fs::read_to_string("/proc/thread-self/net/if_inet6").unwrap_or_default();
    let index = listing.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == want).then(|| u32::from_str_radix(words.next()?, 16).ok()).flatten()
    });
    index.map_or(src, |i| SocketAddrV6::new(*v6.ip(), v6.port(), 0, i).into())
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

    #[test]
    fn an_icmp6_error_is_matched_to_the_packet_it_quotes() {
        let local: SocketAddr = "[fe80::1234:5678:9abc]:40000".parse().unwrap();
        // Destination unreachable, beyond scope, quoting fe80::1234:5678:9abc:40000 > …:32547.
        let mut msg = vec![1, 2, 0, 0, 0, 0, 0, 0];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        ip6.extend("fe80::1234:5678:9abc".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend("2001:1234:5678:9abc::4".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend(ip6);
        msg.extend([0x9c, 0x40, 0x7f, 0x23]);
        assert_eq!(quoted_error(&msg, local), Some((1, 2)));
        assert_eq!(quoted_error(&msg, "[fe80::1234:5678:9abc]:40001".parse().unwrap()), None);
        msg[0] = 135;
        assert_eq!(quoted_error(&msg, local), None, "neighbour solicitations are not errors");
    }
}
