//! Stitches the Lua scripts: every `--@include "includes/<name>.lua"` line in `lua/*.lua` is
//! replaced by that file (recursively, each include at most once per script), and the result is
//! written to `$OUT_DIR/lua/<script>.lua` for `include_str!`. Doing it at build time means a
//! broken include fails the build, not a connect.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

fn stitch(dir: &Path, file: &Path, seen: &mut HashSet<PathBuf>, out: &mut String) {
    let text =
        fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("--@include") {
            let name = rest.trim().trim_matches('"');
            let path = dir.join(name);
            if seen.insert(path.clone()) {
                out.push_str(&format!("-- <{name}>\n"));
                stitch(dir, &path, seen, out);
                out.push_str(&format!("-- </{name}>\n"));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
}

fn main() {
    // Read at run time, not baked in with env!(): a build-script binary reused from another
    // checkout (a copied target dir) must still read this checkout's scripts.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("lua");
    println!("cargo:rerun-if-changed=lua");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("lua");
    fs::create_dir_all(&out_dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("lua") {
            continue;
        }
        let mut out = String::new();
        let mut seen = HashSet::new();
        stitch(&dir, &path, &mut seen, &mut out);
        fs::write(out_dir.join(path.file_name().unwrap()), out).unwrap();
    }
    for entry in fs::read_dir(dir.join("includes")).unwrap() {
        println!("cargo:rerun-if-changed={}", entry.unwrap().path().display());
    }
}
