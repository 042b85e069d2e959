//! The shipped man pages, completions and example config (`contrib/`) match
//! what the CLI and the defaults generate today, and the example config is
//! the defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use blixard_addr::Config;

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib")
}

/// Every file under `dir/man`, `dir/completions` and `dir/network.toml.example`,
/// by relative path.
fn generated_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["man", "completions"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = format!("{sub}/{}", entry.file_name().to_string_lossy());
            files.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    if let Ok(text) = std::fs::read(dir.join("network.toml.example")) {
        files.insert("network.toml.example".into(), text);
    }
    files
}

#[test]
fn man_pages_completions_and_example_config_are_fresh() {
    let dir = std::env::temp_dir().join(format!("blixard-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_blixard-net"))
        .arg("__generate-docs")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let fresh = generated_files(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let committed = generated_files(&contrib());
    assert!(
        fresh.contains_key("man/blixard-net.1"),
        "{:?}",
        fresh.keys()
    );
    assert!(fresh.contains_key("man/blixard-net-apply.1"));
    assert!(
        !fresh.keys().any(|k| k.contains("__")),
        "a hidden subcommand got a page"
    );
    let stale: BTreeSet<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|k| fresh.get(*k) != committed.get(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "contrib/ is stale ({stale:?} differ from what the CLI generates): run `cargo xtask docs` to regenerate"
    );
}

#[test]
fn the_example_config_is_the_defaults_commented_out() {
    let text = std::fs::read_to_string(contrib().join("network.toml.example")).unwrap();
    // As shipped every setting is a comment: the file changes nothing.
    let as_is = Config::from_toml_str(&text, "network.toml.example").unwrap();
    assert_eq!(as_is, Config::default());
    // The header ends at its last bare `#` line; every line after it is a
    // commented-out setting, a table header or blank.
    let lines: Vec<&str> = text.lines().collect();
    let body = lines.iter().rposition(|l| *l == "#").expect("a header") + 1;
    let mut uncommented = String::new();
    for line in &lines[body..] {
        assert!(line.is_empty() || line.starts_with("# "), "{line:?}");
        uncommented.push_str(line.strip_prefix("# ").unwrap_or(line));
        uncommented.push('\n');
    }
    assert!(uncommented.contains("\nvms = 64\n") || uncommented.starts_with("vms = 64\n"));
    let parsed = Config::from_toml_str(&uncommented, "network.toml.example").unwrap();
    assert_eq!(parsed, Config::default());
}
