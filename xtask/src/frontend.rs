//! The release frontend build: `frontend/` into `dist/`, split by page.
//!
//! 1. `cargo build` of the `triage-frontend` binary for wasm32 with the `wasm-release` profile;
//!    the wasm32 rustflags in `.cargo/config.toml` keep the linker's relocations
//!    (`--emit-relocs`), which the split needs.
//! 2. `wasm_split_cli_support::transform` cuts the module at every `#[lazy]` split point (Leptos's
//!    lazy routes): a main module, one chunk per lazily loaded page (plus chunks for code only
//!    those pages share), and `__wasm_split.js`, which fetches a chunk the first time its page is
//!    opened.
//! 3. `wasm-bindgen --target web --keep-lld-exports` on the main module (the chunks import the
//!    exports the linker made, so they must stay).
//! 4. `wasm-opt -Oz` on the main module and on every chunk.
//! 5. The package goes to `dist/pkg-<hash>/`, the hash taken over every file in it, so each build
//!    has new URLs and the backend lets the browser cache them forever; the stylesheet is
//!    fingerprinted the same way; `index.html` is written from `frontend/index.html` with the
//!    preloads and the module script that starts the app.
//! 6. Brotli and gzip copies beside every file (the backend serves those as they are), and the
//!    sizes a browser receives: the first page's files and each page's extra chunk.
//!
//! Nothing is downloaded: wasm-bindgen and wasm-opt are the pinned tools `cargo xtask setup`
//! installs, and the split is a library linked into xtask.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run_cmd;

const CRATE: &str = "triage-frontend";
const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
/// The page template: everything but the markers below is copied as it is.
const TEMPLATE: &str = "frontend/index.html";
const STYLE: &str = "public/style.css";
const FAVICON: &str = "public/favicon.svg";
/// Where the template wants the build's `<link>` and `<script>` elements.
const HEAD_MARKER: &str = "<!-- build: assets -->";
/// The splitter's chunk loader, which the app's script imports (so the first page loads it too).
const SPLIT_LOADER: &str = "__wasm_split.js";
/// Which paths open each lazily loaded page, by the page's split name (the snake-case name of its
/// `LazyRoute` type, as `lazy_page!` in `frontend/src/pages/mod.rs` declares it): an exact path,
/// or a prefix when it ends with `/`. A deep link to one of these paths (an alert's runbook link
/// lands on `/runbooks/<id>`) asks for the page's chunks as the document is parsed, beside the
/// main module, not once the app has started and routed. A split missing here fails the build.
const PAGE_PATHS: [(&str, &[&str]); 10] = [
    ("runbook_list_page", &["/runbooks"]),
    ("runbook_flow_page", &["/runbooks/"]),
    ("alerts_page", &["/alerts"]),
    ("explore_page", &["/explore"]),
    ("kubernetes_page", &["/kubernetes"]),
    ("postgres_page", &["/postgres"]),
    ("kafka_page", &["/kafka", "/kafka/"]),
    ("approvals_page", &["/approvals"]),
    ("audit_page", &["/audit"]),
    ("bench_page", &["/bench/chart"]),
];

/// Builds the release frontend into `dist/`, with the cargo `features` of `triage-frontend`.
pub fn build(root: &Path, features: &[&str]) -> Result<()> {
    let mut cargo = Command::new("cargo");
    cargo.args(["build", "--package", CRATE, "--bin", CRATE, "--target", TARGET, "--profile", PROFILE]);
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    run_cmd(&mut cargo)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let input = target_dir.join(TARGET).join(PROFILE).join(format!("{CRATE}.wasm"));
    let work = target_dir.join("frontend-build");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
    }
    let split_dir = work.join("split");
    let pkg = work.join("pkg");
    fs::create_dir_all(&split_dir)?;
    fs::create_dir_all(&pkg)?;

    let (chunks, prefetch) = split(&input, &split_dir)?;
    run_cmd(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--keep-lld-exports", "--no-typescript", "--out-name", CRATE])
            .arg("--out-dir")
            .arg(&pkg)
            .arg(split_dir.join("main.wasm")),
    )?;
    let mut wasm = vec![pkg.join(format!("{CRATE}_bg.wasm"))];
    for chunk in &chunks {
        let name = chunk.file_name().context("a chunk without a file name")?;
        let dest = pkg.join(name);
        fs::copy(chunk, &dest).with_context(|| format!("cannot copy {}", chunk.display()))?;
        if dest.extension().is_some_and(|e| e == "wasm") {
            wasm.push(dest);
        }
    }
    let loader = split_dir.join(SPLIT_LOADER);
    fs::copy(&loader, pkg.join(SPLIT_LOADER))
        .with_context(|| format!("the split wrote no {}", loader.display()))?;
    for module in &wasm {
        optimize(module)?;
    }

    let dist = root.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).context("cannot clear dist/")?;
    }
    fs::create_dir_all(&dist)?;
    let pkg_name = format!("pkg-{}", hash_tree(&pkg)?);
    copy_tree(&pkg, &dist.join(&pkg_name))?;
    let style = fs::read(root.join(STYLE)).with_context(|| format!("cannot read {STYLE}"))?;
    let style_name = format!("style-{}.css", hash_bytes(&style));
    fs::write(dist.join(&style_name), &style)?;
    fs::copy(root.join(FAVICON), dist.join("favicon.svg"))
        .with_context(|| format!("cannot copy {FAVICON}"))?;
    let template =
        fs::read_to_string(root.join(TEMPLATE)).with_context(|| format!("cannot read {TEMPLATE}"))?;
    let pages = page_files(&prefetch, &pkg_name)?;
    fs::write(dist.join("index.html"), index_html(&template, &pkg_name, &style_name, &pages)?)?;
    precompress(&dist)?;
    report(&dist, &pkg_name, &style_name)
}

/// Split name → the file stems that split needs (its own chunk and the shared ones).
type Prefetch = HashMap<String, Vec<String>>;

/// Splits `input` at its split points into `dir`: `main.wasm`, the chunks and their loader; also
/// answers which files each split needs (split name → file stems).
fn split(input: &Path, dir: &Path) -> Result<(Vec<PathBuf>, Prefetch)> {
    let bytes = fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let main = dir.join("main.wasm");
    let main_module = format!("./{CRATE}.js");
    let mut options = wasm_split_cli_support::Options::new(&bytes);
    options.output_dir = dir;
    options.main_out_path = &main;
    options.main_module = &main_module;
    let split = wasm_split_cli_support::transform(options)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("cannot split the frontend's wasm at its lazy routes")?;
    Ok((split.split_modules.into_iter().collect(), split.prefetch_map))
}

/// For every path of [`PAGE_PATHS`], the URLs of the files its page loads on demand, from the
/// split's `prefetch` map; sorted, so the page (and its script's CSP hash) is the same for the
/// same build.
fn page_files(prefetch: &Prefetch, pkg: &str) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for (split_name, stems) in prefetch {
        let Some((_, paths)) = PAGE_PATHS.iter().find(|(page, _)| split_name.contains(page)) else {
            bail!(
                "the split `{split_name}` has no entry in PAGE_PATHS (xtask/src/frontend.rs): which paths open it?"
            );
        };
        let mut files: Vec<String> = stems.iter().map(|stem| format!("/{pkg}/{stem}.wasm")).collect();
        files.sort();
        for path in *paths {
            out.push(((*path).to_owned(), files.clone()));
        }
    }
    out.sort();
    Ok(out)
}

/// `wasm-opt -Oz` in place, with the WebAssembly features rustc emits for wasm32 (every browser
/// Triage supports has them).
fn optimize(module: &Path) -> Result<()> {
    let out = module.with_extension("opt.wasm");
    run_cmd(
        Command::new("wasm-opt")
            .args([
                "-Oz",
                // The splitter's chunks carry a name subsection binaryen does not know (local
                // names); it drops the names anyway, so the warning about it is noise.
                "--quiet",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(module)
            .arg("-o")
            .arg(&out),
    )?;
    fs::rename(&out, module).with_context(|| format!("cannot replace {}", module.display()))
}

/// `index.html`: the template with the build's elements at [`HEAD_MARKER`]. The module script
/// is inline (the backend's Content-Security-Policy allows it by hash).
fn index_html(template: &str, pkg: &str, style: &str, pages: &[(String, Vec<String>)]) -> Result<String> {
    if !template.contains(HEAD_MARKER) {
        bail!("{TEMPLATE} has no `{HEAD_MARKER}` line where the build's links go");
    }
    let js = format!("/{pkg}/{CRATE}.js");
    let wasm = format!("/{pkg}/{CRATE}_bg.wasm");
    let loader = format!("/{pkg}/{SPLIT_LOADER}");
    // The page's own chunks, when the address is a lazily loaded page's: preloaded `as="fetch"`
    // with `crossorigin`, the mode of the loader's `fetch`, so that the loader gets them from
    // the preload and does not ask again. The names are the build's own (letters, digits, `_`,
    // `-`, `.`, `/`), checked here, so the JSON is safe inside a script element.
    for (path, files) in pages {
        if let Some(bad) = std::iter::once(path)
            .chain(files)
            .find(|f| !f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')))
        {
            bail!("unexpected character in the page file name {bad:?}");
        }
    }
    let map: serde_json::Map<String, serde_json::Value> =
        pages.iter().map(|(p, f)| (p.clone(), serde_json::json!(f))).collect();
    let map = serde_json::to_string(&map)?;
    let page_preload = format!(
        "<script>\n      // A deep link to a lazily loaded page asks for its chunks now, beside the main module.\n      \
         (function () {{\n        var pages = {map};\n        var p = location.pathname, files = pages[p];\n        \
         for (var k in pages) if (!files && k.slice(-1) === \"/\" && p.indexOf(k) === 0) files = pages[k];\n        \
         (files || []).forEach(function (f) {{\n          var l = document.createElement(\"link\");\n          \
         l.rel = \"preload\"; l.as = \"fetch\"; l.crossOrigin = \"anonymous\"; l.href = f;\n          \
         document.head.appendChild(l);\n        }});\n      }})();\n    </script>"
    );
    // Every file the first page needs is asked for at once (the loader is imported by the app's
    // script, so the browser would otherwise find it one round trip later).
    let assets = format!(
        "<link rel=\"stylesheet\" href=\"/{style}\" />\n    \
         <link rel=\"modulepreload\" href=\"{js}\" crossorigin />\n    \
         <link rel=\"modulepreload\" href=\"{loader}\" crossorigin />\n    \
         <link rel=\"preload\" href=\"{wasm}\" as=\"fetch\" type=\"application/wasm\" crossorigin />\n    \
         {page_preload}\n    \
         <script type=\"module\">import init from \"{js}\"; init({{ module_or_path: \"{wasm}\" }});</script>"
    );
    Ok(template.replace(HEAD_MARKER, &assets))
}

/// A 64-bit content hash as 16 hex digits (for URLs that change with their content).
fn hash_bytes(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    format!("{:016x}", hasher.finish())
}

/// [`hash_bytes`] over every file under `dir`, names and contents, in sorted order.
fn hash_tree(dir: &Path) -> Result<String> {
    let mut hasher = DefaultHasher::new();
    for file in files(dir)? {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.write(relative.to_string_lossy().as_bytes());
        hasher.write_u8(0);
        hasher.write(&fs::read(&file)?);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for file in files(from)? {
        let dest = to.join(file.strip_prefix(from).unwrap_or(&file));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&file, &dest).with_context(|| format!("cannot copy {}", file.display()))?;
    }
    Ok(())
}

/// Writes `NAME.br` (brotli -q 11) and `NAME.gz` (gzip -9) beside each text and wasm file of
/// `dist/`: the backend serves these as they are, so no request pays for compressing the
/// bundle and the browser gets the smallest encoding it accepts.
fn precompress(dist: &Path) -> Result<()> {
    for path in files(dist)? {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(ext, "wasm" | "js" | "css" | "html" | "svg") {
            continue;
        }
        run_cmd(Command::new("brotli").args(["-q", "11", "-f", "-k"]).arg(&path))?;
        run_cmd(Command::new("gzip").args(["-9", "-f", "-k", "-n"]).arg(&path))?;
    }
    Ok(())
}

/// Raw, gzip and brotli sizes of one built file.
fn sizes(path: &Path) -> Result<[u64; 3]> {
    let len =
        |p: PathBuf| fs::metadata(&p).map(|m| m.len()).with_context(|| format!("{} missing", p.display()));
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    Ok([len(path.to_path_buf())?, len(with(".gz"))?, len(with(".br"))?])
}

fn kb(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// Prints what the browser downloads: the first page (document, stylesheet, the app's script and
/// main module) and each lazily loaded chunk, raw, gzipped and brotli (what is served).
fn report(dist: &Path, pkg: &str, style: &str) -> Result<()> {
    let first = [
        dist.join("index.html"),
        dist.join(style),
        dist.join(pkg).join(format!("{CRATE}.js")),
        dist.join(pkg).join(SPLIT_LOADER),
        dist.join(pkg).join(format!("{CRATE}_bg.wasm")),
    ];
    let mut first_total = [0u64; 3];
    println!("first page (every route loads these):");
    for file in &first {
        let s = sizes(file)?;
        first_total.iter_mut().zip(s).for_each(|(t, v)| *t += v);
        let name = file.strip_prefix(dist).unwrap_or(file).display();
        println!("  {name}: {:.1} KB raw, {:.1} KB gzip, {:.1} KB brotli", kb(s[0]), kb(s[1]), kb(s[2]));
    }
    let mut all = first_total;
    let mut chunks = Vec::new();
    for file in files(&dist.join(pkg))? {
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !matches!(ext, "wasm" | "js") || first.contains(&file) {
            continue;
        }
        let s = sizes(&file)?;
        all.iter_mut().zip(s).for_each(|(t, v)| *t += v);
        chunks.push((file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), s));
    }
    println!("loaded on demand ({} files):", chunks.len());
    chunks.sort_by_key(|(_, s)| std::cmp::Reverse(s[2]));
    // Every page's own chunk, then the largest shared ones; the many small ones summed.
    let (pages, shared): (Vec<_>, Vec<_>) = chunks.iter().partition(|(name, _)| name.starts_with("split_"));
    let shown = shared.len().min(8);
    for (name, s) in pages.iter().chain(&shared[..shown]) {
        println!("  {name}: {:.1} KB raw, {:.1} KB gzip, {:.1} KB brotli", kb(s[0]), kb(s[1]), kb(s[2]));
    }
    let rest: u64 = shared[shown..].iter().map(|(_, s)| s[2]).sum();
    if shared.len() > shown {
        println!(
            "  … {} smaller chunks shared by pages: {:.1} KB brotli together",
            shared.len() - shown,
            kb(rest)
        );
    }
    println!(
        "bundle: first page {:.1} KB brotli ({:.1} KB raw, {:.1} KB gzip); everything {:.1} KB brotli \
         ({:.1} KB raw, {:.1} KB gzip)",
        kb(first_total[2]),
        kb(first_total[0]),
        kb(first_total[1]),
        kb(all[2]),
        kb(all[0]),
        kb(all[1])
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HEAD_MARKER, HashMap, index_html, page_files};

    #[test]
    fn index_gets_the_builds_elements_at_the_marker() {
        let pages = vec![
            (
                "/kafka/".to_owned(),
                vec!["/pkg-00ff/chunk_1.wasm".to_owned(), "/pkg-00ff/split_k.wasm".to_owned()],
            ),
            ("/runbooks".to_owned(), vec!["/pkg-00ff/split_r.wasm".to_owned()]),
        ];
        let page =
            index_html(&format!("<head>\n    {HEAD_MARKER}\n</head>"), "pkg-00ff", "style-ab.css", &pages)
                .expect("the template has the marker");
        assert!(page.contains("<link rel=\"stylesheet\" href=\"/style-ab.css\" />"));
        assert!(page.contains("import init from \"/pkg-00ff/triage-frontend.js\""));
        assert!(
            page.contains("<link rel=\"modulepreload\" href=\"/pkg-00ff/__wasm_split.js\" crossorigin />")
        );
        assert!(page.contains("module_or_path: \"/pkg-00ff/triage-frontend_bg.wasm\""));
        assert!(page.contains(
            r#"var pages = {"/kafka/":["/pkg-00ff/chunk_1.wasm","/pkg-00ff/split_k.wasm"],"/runbooks":["/pkg-00ff/split_r.wasm"]};"#
        ));
        assert!(!page.contains(HEAD_MARKER));
        assert!(
            index_html("<head></head>", "p", "s", &[]).is_err(),
            "a template without the marker is refused"
        );
        let hostile = vec![("/x".to_owned(), vec!["</script><script>alert(1)".to_owned()])];
        assert!(index_html(HEAD_MARKER, "p", "s", &hostile).is_err(), "only the build's own names go in");
    }

    #[test]
    fn every_split_maps_to_its_pages_paths() {
        let prefetch: HashMap<String, Vec<String>> = [
            (
                "__kafka_page_view_1".to_owned(),
                vec!["chunk_3".to_owned(), "split___kafka_page_view_1".to_owned()],
            ),
            ("__runbook_flow_page_view_1".to_owned(), vec!["split___runbook_flow_page_view_1".to_owned()]),
        ]
        .into();
        let pages = page_files(&prefetch, "pkg-1").expect("both splits are known");
        let paths: Vec<&str> = pages.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/kafka", "/kafka/", "/runbooks/"]);
        assert_eq!(pages[0].1, ["/pkg-1/chunk_3.wasm", "/pkg-1/split___kafka_page_view_1.wasm"]);
        let unknown: HashMap<String, Vec<String>> = [("__new_page_view_1".to_owned(), vec![])].into();
        assert!(page_files(&unknown, "pkg-1").is_err(), "a page without paths fails the build");
    }
}
