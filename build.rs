//! Embeds the e-mail templates and the web UI's templates, translations and static files into the
//! binary, so it runs from any working directory with no files beside it; and packs the server's
//! relocations where the linker and C library can.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path.canonicalize().unwrap()));
        }
    }
}

/// Embeds the files under `dir`; with `only`, just those whose names end so.
fn embed(code: &mut String, name: &str, dir: &str, only: Option<&str>) {
    // Read when the script runs, not when it was compiled: a compiled build script can be reused
    // for a checkout at another path, which would then embed the other checkout's files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join(dir);
    println!("cargo:rerun-if-changed={dir}");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
    for (rel, path) in files {
        if only.is_some_and(|end| !rel.ends_with(end)) {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();
}

fn main() {
    let mut code = String::new();
    embed(&mut code, "EMAIL_TEMPLATES", "email-templates", None);
    embed(&mut code, "PAGE_TEMPLATES", "src/web/templates", None);
    embed(&mut code, "STATIC_FILES", "src/web/static", None);
    embed(&mut code, "TRANSLATIONS", "src/i18n", Some(".toml"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("embedded.rs"), code).unwrap();
    pack_relative_relocations(&out);
}

/// Links the server with its relative relocations packed (`-z pack-relative-relocs`, DT_RELR)
/// when a small program linked so here also runs here. A position-independent server has
/// about 170,000 of them: unpacked they are 4 MB of the binary that the loader reads at every
/// start, which stays resident. Where the linker or the C library is older (glibc before 2.36),
/// the server is linked as before.
fn pack_relative_relocations(out: &Path) {
    let (target, host) = (std::env::var("TARGET"), std::env::var("HOST"));
    if target.is_err() || target != host || !host.as_deref().unwrap_or("").ends_with("linux-gnu") {
        return;
    }
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let source = out.join("relr-probe.c");
    let probe = out.join("relr-probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    let linked = std::process::Command::new(&cc)
        .arg(&source)
        .arg("-o")
        .arg(&probe)
        .arg("-Wl,-z,pack-relative-relocs")
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    let runs = linked
        && std::process::Command::new(&probe)
            .status()
            .is_ok_and(|s| s.success());
    if runs {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
