//! Tidy checks that keep the code base's conventions, run as unit tests of xtask: every Rust
//! module opens with a `//!` line saying what it owns, no test is ignored or expected to panic,
//! code cites `docs/fidelity.md`'s sections that exist, never a document outside the repo, and
//! the code the web bundle carries sorts through `svcsim_core::order`.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && name != "node_modules" && name != "fuzz" {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn workspace_sources() -> Vec<PathBuf> {
        let root = crate::project_root();
        let mut files = Vec::new();
        for dir in ["crates", "web/src", "xtask/src"] {
            rust_files(&root.join(dir), &mut files);
        }
        files.sort();
        files
    }

    #[test]
    fn every_module_opens_with_a_doc_line() {
        let missing: Vec<String> = workspace_sources()
            .into_iter()
            .filter(|f| !fs::read_to_string(f).unwrap().starts_with("//!"))
            .map(|f| f.display().to_string())
            .collect();
        assert!(missing.is_empty(), "modules without a `//!` first line: {missing:#?}");
    }

    #[test]
    fn no_test_is_ignored_or_expected_to_panic() {
        let needles = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
        let offenders: Vec<String> = workspace_sources()
            .into_iter()
            .filter(|f| {
                let text = fs::read_to_string(f).unwrap();
                needles.iter().any(|n| text.contains(n))
            })
            .map(|f| f.display().to_string())
            .collect();
        assert!(offenders.is_empty(), "{offenders:#?}");
    }

    #[test]
    fn the_core_reads_no_clock_and_no_os_randomness() {
        let core = crate::project_root().join("crates/svcsim-core/src");
        let mut files = Vec::new();
        rust_files(&core, &mut files);
        let banned = ["std::time", "thread_rng", "getrandom", "std::fs", "std::io", "std::env", "println!"];
        for f in files {
            let text = fs::read_to_string(&f).unwrap();
            for b in banned {
                assert!(!text.contains(b), "{} uses {b}", f.display());
            }
        }
    }

    /// GitHub's anchor for a Markdown heading.
    fn anchor(heading: &str) -> String {
        heading
            .trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    #[test]
    fn code_cites_fidelity_sections_that_exist_and_no_outside_fact_sheet() {
        let root = crate::project_root();
        let doc = fs::read_to_string(root.join("docs/fidelity.md")).unwrap();
        let anchors: Vec<String> = doc.lines().filter(|l| l.starts_with('#')).map(anchor).collect();
        let mut files = workspace_sources();
        files.extend(fs::read_dir(root.join("web/e2e/tests")).unwrap().flatten().map(|e| e.path()));
        let mut cited = 0;
        for f in files.into_iter().filter(|f| !f.ends_with("xtask/src/tidy.rs")) {
            let text = fs::read_to_string(&f).unwrap();
            // The section sign, and the name of the research notes that live outside the repo.
            assert!(!text.contains('\u{a7}'), "{} cites a section of a document outside the repository", f.display());
            let notes = concat!("kubernetes-", "routing.md");
            assert!(!text.contains(notes), "{} cites the research notes outside the repository", f.display());
            for (i, _) in text.match_indices("fidelity.md#") {
                let rest = &text[i + "fidelity.md#".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                assert!(
                    anchors.contains(&name),
                    "{} cites docs/fidelity.md#{name}, which has no such section",
                    f.display()
                );
                cited += 1;
            }
        }
        assert!(cited > 20, "only {cited} citations of docs/fidelity.md");
    }

    /// Every `slice::sort*` call compiles another copy of the sort into the wasm bundle (3–4 KB
    /// each); the core and the page sort through `svcsim_core::order` instead. Tests may sort.
    #[test]
    fn bundle_code_sorts_through_one_routine() {
        let root = crate::project_root();
        let mut files = Vec::new();
        rust_files(&root.join("crates/svcsim-core/src"), &mut files);
        rust_files(&root.join("web/src"), &mut files);
        let calls = [".sort(", ".sort_by(", ".sort_by_key(", ".sort_by_cached_key(", ".sort_unstable"];
        let mut offenders = Vec::new();
        for f in files.iter().filter(|f| !f.ends_with("order.rs") && !f.ends_with("tests.rs")) {
            let text = fs::read_to_string(f).unwrap();
            // Code before the file's unit tests, if any.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in code.lines().enumerate() {
                if calls.iter().any(|c| line.contains(c)) && !line.trim_start().starts_with("//") {
                    offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(offenders.is_empty(), "use svcsim_core::order's sorts: {offenders:#?}");
    }
}
