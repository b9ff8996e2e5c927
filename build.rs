//! Stitches the Lua scripts: every `--@include "includes/<name>.lua"` line in `lua/*.lua` is
//! replaced by that file (recursively, each include at most once per script), and the result is
//! written to `$OUT_DIR/lua/<script>.lua` for `include_str!`. Doing it at build time means a
//! broken include fails the build, not a connect.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

fn stitch(dir: &Path, file: &Path, seen: &mut HashSet<PathBuf>, out: &mut String) {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
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

/// The includes in an order where each comes after what it uses (every script lists its
/// includes in this order).
const LIBRARY_ORDER: [&str; 11] =
    ["base", "remove", "store", "add", "lock", "fetch", "fair", "parent", "finish", "rerun", "scheduler"];

/// FNV-1a, 64 bits: names the library after its text, so that two versions of this crate on one
/// Redis load two libraries instead of replacing each other's functions.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Every script as one Redis function library (Redis >= 7.0): the includes once at the top, each
/// script's body as a local function, one registered function per script. A library's top
/// level runs once, at FUNCTION LOAD, so a call no longer creates a closure for every helper as
/// an EVALSHA of a stitched script does (about 40 per call, a fifth of a small call's work).
/// What the library's top level may not touch at load (redis.call) is set by each call.
fn library(dir: &Path, scripts: &[(String, String)]) -> (String, String) {
    let mut body = String::from("local KEYS, ARGV\n");
    for inc in LIBRARY_ORDER {
        let path = dir.join("includes").join(format!("{inc}.lua"));
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(!text.contains("--@include"), "{inc}.lua: includes may not include");
        body.push_str(&format!("-- <includes/{inc}.lua>\n"));
        for line in text.lines() {
            // Read at load time, redis.call is an error: each call sets it (see below).
            body.push_str(if line == "local rcall = redis.call" { "local rcall" } else { line });
            body.push('\n');
        }
    }
    let mut registrations = String::new();
    for (name, text) in scripts {
        let ident = name.replace('-', "_");
        body.push_str(&format!("-- <{name}.lua>\nlocal function s_{ident}()\n"));
        for line in text.lines().filter(|l| !l.trim_start().starts_with("--@include")) {
            body.push_str(line);
            body.push('\n');
        }
        body.push_str("end\n");
        // `--@flags allow-oom`: the function runs while Redis is out of memory (a function is
        // refused then by default). Only for scripts that add nothing (lock renewal).
        let flags = if text.lines().any(|l| l.trim() == "--@flags allow-oom") { "'allow-oom'" } else { "" };
        registrations.push_str(&format!(
            "redis.register_function{{function_name = '{{LIB}}_{ident}', callback = function(k, a)\n  KEYS, ARGV, rcall = k, a, redis.call\n  return s_{ident}()\nend, flags = {{{flags}}}}}\n"
        ));
    }
    let text = body + &registrations;
    let name = format!("bullmq_rs_{:016x}", fnv1a(&text));
    (format!("#!lua name={name}\n{}", text.replace("{LIB}", &name)), name)
}

fn main() {
    // Read at run time: `env!` would freeze the path of the checkout the build script was first
    // compiled in (a copied target directory would then stitch another checkout's scripts).
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("lua");
    println!("cargo:rerun-if-changed=lua");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("lua");
    fs::create_dir_all(&out_dir).unwrap();
    let mut scripts = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("lua") {
            continue;
        }
        let mut out = String::new();
        let mut seen = HashSet::new();
        stitch(&dir, &path, &mut seen, &mut out);
        fs::write(out_dir.join(path.file_name().unwrap()), out).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        scripts.push((stem, fs::read_to_string(&path).unwrap()));
    }
    scripts.sort();
    let (lib, name) = library(&dir, &scripts);
    fs::write(out_dir.join("_library.lua"), lib).unwrap();
    fs::write(out_dir.join("_library_name.txt"), name).unwrap();
    for entry in fs::read_dir(dir.join("includes")).unwrap() {
        println!("cargo:rerun-if-changed={}", entry.unwrap().path().display());
    }
}
