//! `netloom graph` from the file alone: every example in every format, the
//! SVG naming every node and interface of the file, and the SVG opened in a
//! real browser (Debian's chromium, headless) and photographed.
//!
//! SVG needs Graphviz's `dot` (Debian package graphviz, installed by
//! test.sh); the browser test skips with a reason when chromium is absent.
#[path = "support/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::root().join("examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

fn graph(file: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(common::netloom_bin())
        .arg("graph")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "netloom graph {} {args:?}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{}: empty output", file.display());
    out.stdout
}

#[test]
fn every_example_renders_in_every_format() {
    let files = examples();
    assert!(files.len() >= 15);
    for f in &files {
        let dot = String::from_utf8(graph(f, &["--format", "dot"])).unwrap();
        assert!(dot.starts_with("digraph "), "{}", f.display());
        let mermaid = String::from_utf8(graph(f, &["--format", "mermaid"])).unwrap();
        assert!(mermaid.starts_with("flowchart LR\n"), "{}", f.display());
        let json: serde_json::Value =
            serde_json::from_slice(&graph(f, &["--format", "json"])).unwrap();
        assert!(json["nodes"].as_array().is_some_and(|n| !n.is_empty()));
        let svg = String::from_utf8(graph(f, &["--format", "svg"])).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{}",
            f.display()
        );
        // `dot` itself reads the DOT text back without a complaint.
        let check = Command::new("dot")
            .arg("-Tcanon")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(dot.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            check.status.success() && check.stderr.is_empty(),
            "{}: dot says {}",
            f.display(),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // `-o` writes the file.
    let out = std::env::temp_dir().join(format!("netloom-graph-{}.svg", std::process::id()));
    let r = Command::new(common::netloom_bin())
        .args(["graph"])
        .arg(&files[0])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success() && r.stdout.is_empty());
    assert!(std::fs::read_to_string(&out).unwrap().contains("<svg"));
    std::fs::remove_file(&out).unwrap();
}

/// Text as an SVG writes it (`&`, `<`, `>` escaped).
fn svg_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn the_svg_names_every_node_and_interface_of_the_file() {
    for f in examples() {
        let topo = netloom::spec::load(&f).unwrap();
        let svg = String::from_utf8(graph(&f, &[])).unwrap();
        for (node, n) in &topo.network.nodes {
            let label = if node == "host" {
                format!(">{node} (the machine)<")
            } else {
                format!(">{node}<")
            };
            assert!(
                svg.contains(&label),
                "{}: node {node} not in the SVG",
                f.display()
            );
            // DHCP servers and clients and logical interfaces, where they are.
            for svc in n.services.values() {
                use netloom::model::service::ServiceSetup as S;
                let words = match &svc.setup {
                    S::Dnsmasq(d) => vec![format!("dhcp server {}-{}", d.range.0, d.range.1)],
                    S::DhcpClient(_) => vec!["dhcp client".to_string()],
                    S::LifWatch(w) => w
                        .lifs
                        .iter()
                        .map(|l| format!("lif {} {} (home)", l.name, l.address))
                        .collect(),
                };
                for w in words {
                    assert!(
                        // (Graphviz writes '-' as &#45;.)
                        svg.contains(&format!(">{}<", svg_text(&w).replace('-', "&#45;"))),
                        "{}: `{w}` of node {node} not in the SVG",
                        f.display()
                    );
                }
            }
            for (name, l) in &n.links {
                if l.kind == netloom::model::LinkKind::Loopback {
                    continue;
                }
                // The interface's box (its id as the title) and its name as text.
                let title = format!("<title>{}</title>", svg_text(&format!("{node}/{name}")));
                assert!(
                    svg.contains(&title),
                    "{}: {node}/{name} has no box",
                    f.display()
                );
                assert!(
                    svg.contains(&format!(">{}<", svg_text(name))),
                    "{}: {node}/{name} not named",
                    f.display()
                );
            }
        }
    }
}

/// Headless chromium's flags on this kind of machine: no sandbox (root), no
/// GPU, and no background network (the machine's network is closed).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1000,800",
];

/// A screenshot of `page` by headless chromium.
fn screenshot(chromium: &Path, page: &Path, png: &Path) -> Vec<u8> {
    let profile = png.with_extension("profile");
    let out = Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let bytes = std::fs::read(png).unwrap_or_else(|e| {
        panic!(
            "chromium made no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    bytes
}

#[test]
fn the_svg_opens_in_headless_chromium() {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        println!("skipped: chromium is not installed (Debian package chromium)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("netloom-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("lab.svg");
    std::fs::write(
        &svg,
        graph(&common::root().join("examples/13-logical-switch.yaml"), &[]),
    )
    .unwrap();
    // The same page size with nothing drawn, to tell a picture from a blank page.
    let blank = dir.join("blank.svg");
    std::fs::write(
        &blank,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"400\"></svg>",
    )
    .unwrap();
    let shot = screenshot(&chromium, &svg, &dir.join("lab.png"));
    let empty = screenshot(&chromium, &blank, &dir.join("blank.png"));
    // IHDR: width and height as big-endian u32 at bytes 16..24.
    let size = |b: &[u8]| {
        (
            u32::from_be_bytes(b[16..20].try_into().unwrap()),
            u32::from_be_bytes(b[20..24].try_into().unwrap()),
        )
    };
    assert_eq!(size(&shot), (1000, 800));
    println!(
        "screenshot: {} bytes; of a blank page: {} bytes",
        shot.len(),
        empty.len()
    );
    // A drawn page compresses far worse than a blank one.
    assert!(
        shot.len() > 4 * empty.len(),
        "the screenshot looks blank: {} bytes against {} for an empty page",
        shot.len(),
        empty.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
