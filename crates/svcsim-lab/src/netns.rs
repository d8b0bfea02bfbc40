//! Doing things inside a lab namespace without a shell: a thread enters the namespace
//! (`setns(2)` changes only the calling thread), and every socket it opens belongs there.

use std::fs::File;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::sched::{CloneFlags, setns};

/// Runs `f` on a new thread inside the network namespace `ns` (a name under /run/netns).
pub fn spawn_in<T, F>(ns: &str, f: F) -> Result<JoinHandle<Result<T>>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).with_context(|| format!("opening the namespace {path}"))?;
    let ns = ns.to_string();
    let handle = std::thread::Builder::new()
        .name(format!("in {ns}"))
        .spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).with_context(|| format!("entering the namespace {ns}"))?;
            drop(file);
            f()
        })
        .context("starting a thread")?;
    Ok(handle)
}

/// Runs `f` inside `ns` and waits for it.
pub fn run_in<T, F>(ns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match spawn_in(ns, f)?.join() {
        Ok(result) => result,
        Err(_) => anyhow::bail!("a thread in the namespace {ns} panicked"),
    }
}
