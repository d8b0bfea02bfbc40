//! The lab's stand-ins for what listens in a cluster: each pod's app, which answers with the
//! address it sees in the scenario app's format, and kube-proxy's health servers, which answer
//! as svcsim says they would at this moment. A pod's UDP port answers each datagram with one
//! datagram holding the same HTTP-shaped answer, so both protocols are read alike. In a
//! dual-stack lab a pod listens on both its addresses, and each family's health servers answer
//! on their own family's wildcard address, as that family's kube-proxy says.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use svcsim_core::net::Protocol;

use crate::netns;
use crate::plan::Plan;

/// The header a pod's answer names the pod in, so a client knows which endpoint it reached.
pub const POD_HEADER: &str = "X-Svcsim-Pod";

/// What one listener answers.
#[derive(Debug, Clone)]
enum Answer {
    /// A pod's app: 200 with the peer address in the app's format.
    App { pod: String, app: svcsim_core::cluster::App },
    /// A health server: this status and body, whatever the request.
    Health { status: u16, body: String },
}

/// The servers of a lab, each on its own thread inside its namespace.
pub struct Servers {
    stop: Arc<AtomicBool>,
    listeners: Vec<socket2::Socket>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl Servers {
    /// Starts every pod's app and every node's health servers. Returns once all are listening.
    pub fn start(plan: &Plan) -> Result<Servers> {
        let mut servers =
            Servers { stop: Arc::new(AtomicBool::new(false)), listeners: Vec::new(), threads: Vec::new() };
        for (i, pod) in plan.pods.iter().enumerate().filter(|(_, p)| !p.probe) {
            for ip in [Some(pod.ip), pod.ip6].into_iter().flatten() {
                for (proto, port) in &pod.ports {
                    let answer = Answer::App { pod: pod.name.clone(), app: pod.app.app() };
                    let addr = SocketAddr::new(ip, *port);
                    match proto {
                        Protocol::Tcp => servers.listen(&plan.pod_ns(i), addr, answer)?,
                        Protocol::Udp => servers.listen_udp(&plan.pod_ns(i), addr, answer)?,
                        // The lab sends no SCTP (its cases are skipped where the kernel has none).
                        Protocol::Sctp => {}
                    }
                }
            }
        }
        for (i, node) in plan.nodes.iter().enumerate() {
            for h in &node.v4.health {
                let answer = Answer::Health { status: h.status, body: h.body.clone() };
                servers.listen(&plan.node_ns(i), SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), h.port), answer)?;
            }
            for h in node.ipv6.iter().flat_map(|side| &side.health) {
                let answer = Answer::Health { status: h.status, body: h.body.clone() };
                servers.listen(&plan.node_ns(i), SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), h.port), answer)?;
            }
        }
        Ok(servers)
    }

    fn listen(&mut self, ns: &str, addr: SocketAddr, answer: Answer) -> Result<()> {
        let listener = netns::run_in(ns, move || bind(addr).with_context(|| format!("listening on {addr}")))?;
        self.listeners.push(socket2::Socket::from(listener.try_clone()?));
        let stop = Arc::clone(&self.stop);
        self.threads.push(std::thread::spawn(move || accept_loop(&listener, &answer, &stop)));
        Ok(())
    }

    fn listen_udp(&mut self, ns: &str, addr: SocketAddr, answer: Answer) -> Result<()> {
        let socket =
            netns::run_in(ns, move || UdpSocket::bind(addr).with_context(|| format!("listening on udp {addr}")))?;
        // Shutting the socket down wakes a blocked recv (Linux does so even for an unconnected
        // UDP socket); the timeout is a backstop.
        socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        self.listeners.push(socket2::Socket::from(socket.try_clone()?));
        let stop = Arc::clone(&self.stop);
        self.threads.push(std::thread::spawn(move || datagram_loop(&socket, &answer, &stop)));
        Ok(())
    }

    /// Blocks while the servers run (the `svcsim lab up` daemon).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // On Linux, shutting a socket down wakes its blocked accept() or recv().
        for l in &self.listeners {
            let _ = l.shutdown(std::net::Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A TCP listener on `addr`; on `[::]`, IPv6 only, so that IPv4's `0.0.0.0` on the same port
/// stays IPv4's (each family's health server answers as its own kube-proxy says).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if addr.ip() != IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        return TcpListener::bind(addr);
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

fn accept_loop(listener: &TcpListener, answer: &Answer, stop: &AtomicBool) -> Result<()> {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Ok(stream) = conn {
            let _ = respond(stream, answer);
        }
    }
    Ok(())
}

fn datagram_loop(socket: &UdpSocket, answer: &Answer, stop: &AtomicBool) -> Result<()> {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(response(answer, peer.ip()).as_bytes(), peer);
        }
    }
    Ok(())
}

fn respond(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let peer = stream.peer_addr()?.ip();
    read_request(&mut stream)?;
    stream.write_all(response(answer, peer).as_bytes())
}

/// The answer to a request from `peer`, as HTTP/1.1 text.
fn response(answer: &Answer, peer: IpAddr) -> String {
    match answer {
        Answer::App { pod, app } => {
            let body = app.respond(unmapped(peer));
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{POD_HEADER}: {pod}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Answer::Health { status, body } => format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            if *status == 200 { "OK" } else { "Service Unavailable" },
            body.len()
        ),
    }
}

/// Reads an HTTP request's head (or whatever arrives before the timeout).
fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An IPv4 peer as an IPv4 address, even if it reached a dual-stack socket.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
