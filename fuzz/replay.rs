//! Replays what the fuzzers kept, on stable: included by the regression tests of the crates that
//! hold the harnesses (`crates/svcsim-core/tests/it/fuzz_regressions.rs`,
//! `web/tests/fuzz_regressions.rs`).

use std::path::{Path, PathBuf};

/// Feeds every file in `fuzz/corpus/<target>` (the minimized corpus) and
/// `fuzz/regressions/<target>` (each crash ever found, named for what it broke) to `harness`,
/// naming the file that fails. `fuzz` is the path of this folder.
// The core's no-IO lint guards its library; its tests may read the corpus.
#[allow(clippy::disallowed_methods)]
pub fn replay(fuzz: &Path, target: &str, harness: fn(&[u8])) {
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a readable entry").path())
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
    assert!(replayed > 0, "nothing kept for fuzz target {target}");
}
