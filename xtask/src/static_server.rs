//! A plain static file server on a loopback port, mounting dist/ under a sub-path, so the e2e
//! tests load the release build the way a blog or docs site would host it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use tiny_http::{Header, Response, Server};

/// A running server; dropping it stops the server and joins its thread.
pub struct StaticServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    /// The URL the mounted directory's index answers at, ending in `/`.
    pub url: String,
}

impl StaticServer {
    /// Serves `root` at `http://127.0.0.1:<free port><mount>`; `mount` starts and ends with `/`.
    pub fn start(root: &Path, mount: &'static str) -> Result<StaticServer> {
        assert!(mount.starts_with('/') && mount.ends_with('/'), "mount {mount:?} must start and end with /");
        let server = Arc::new(Server::http("127.0.0.1:0").map_err(|e| anyhow!("static server: {e}"))?);
        let port =
            server.server_addr().to_ip().map(|a| a.port()).ok_or_else(|| anyhow!("static server has no IP address"))?;
        let root = root.to_path_buf();
        let thread = std::thread::spawn({
            let server = Arc::clone(&server);
            move || {
                for request in server.incoming_requests() {
                    let response = respond(&root, mount, request.url());
                    let _ = request.respond(response);
                }
            }
        });
        Ok(StaticServer { server, thread: Some(thread), url: format!("http://127.0.0.1:{port}{mount}") })
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn respond(root: &Path, mount: &str, url: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    match resolve(root, mount, path) {
        Some(file) => match std::fs::read(&file) {
            Ok(body) => Response::from_data(body).with_header(content_type(&file)),
            Err(_) => not_found(),
        },
        None => not_found(),
    }
}

/// Maps a request path to a file under `root`, refusing anything outside the mount or `root`.
fn resolve(root: &Path, mount: &str, path: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix(mount)?;
    let mut file = root.to_path_buf();
    for component in Path::new(rel).components() {
        match component {
            Component::Normal(part) => file.push(part),
            _ => return None,
        }
    }
    if rel.is_empty() || rel.ends_with('/') {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn content_type(file: &Path) -> Header {
    let mime = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("yaml" | "yml" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    Header::from_bytes("Content-Type", mime).expect("static header is valid")
}

fn not_found() -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string("not found").with_status_code(404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_serves_only_files_under_the_mount() {
        let root = crate::project_root().join("xtask");
        assert_eq!(resolve(&root, "/sub/", "/sub/Cargo.toml"), Some(root.join("Cargo.toml")));
        assert_eq!(resolve(&root, "/sub/", "/Cargo.toml"), None, "outside the mount");
        assert_eq!(resolve(&root, "/sub/", "/sub/../Cargo.toml"), None, "parent components");
        assert_eq!(resolve(&root, "/sub/", "/sub/missing.txt"), None);
    }
}
