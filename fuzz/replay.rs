//! Replays the fuzzers' tracked inputs on stable: included by the regression tests of the crates
//! that hold the harnesses (`crates/svcsim-core/tests/it/fuzz_regressions.rs`,
//! `web/tests/fuzz_regressions.rs`).
//!
//! What is tracked: `fuzz/seeds/<target>` (a few dozen named inputs, each for a path it covers)
//! and `fuzz/regressions/<target>` (each crash ever found, named for what it broke). The corpus a
//! fuzzer grows (`fuzz/corpus/<target>`) is local and ignored by git; CI does not replay it.

use std::path::{Path, PathBuf};

/// Feeds every file of `fuzz/seeds/<target>`, `fuzz/regressions/<target>` and the `extra`
/// folders (the presets and the bad-file corpus are scenario seeds too) to `harness`, naming
/// the file that fails. `fuzz` is the path of this folder.
// The core's no-IO lint guards its library; its tests may read the inputs.
#[allow(clippy::disallowed_methods)]
pub fn replay(fuzz: &Path, target: &str, extra: &[&Path], harness: fn(&[u8])) {
    let mut dirs = vec![fuzz.join("seeds").join(target), fuzz.join("regressions").join(target)];
    dirs.extend(extra.iter().map(|d| d.to_path_buf()));
    let mut replayed = 0;
    for dir in dirs {
        // A target no fuzzer has yet broken has no regressions folder.
        if dir == fuzz.join("regressions").join(target) && !dir.exists() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a readable entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                panic!("fuzz input {} fails again", file.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 10, "only {replayed} inputs kept for fuzz target {target}");
}
