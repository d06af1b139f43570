//! The architecture holds: every module of src/ imports only modules below
//! it in the layer order that src/lib.rs states, and the top-level modules
//! form no cycle. Reads the source as text (every `crate::`, and every
//! `super::` that climbs to the crate root), so it needs no build tooling.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer order as lib.rs states it: the names on the line
/// `//! Layers, lowest first: a, b, c.`
fn declared_order(lib: &str) -> Vec<String> {
    let line = lib
        .lines()
        .find_map(|l| l.strip_prefix("//! Layers, lowest first:"))
        .expect("src/lib.rs states `//! Layers, lowest first: ...`");
    line.trim()
        .trim_end_matches('.')
        .split(',')
        .map(|s| s.trim().trim_matches('`').to_string())
        .collect()
}

/// Every .rs file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under src/ (`kernel/apply/link.rs` ->
/// [kernel, apply, link]; `plan/mod.rs` -> [plan]).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a file without comments (doc links name modules freely).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal is rare enough here; a quote
            // before it keeps the line whole.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file refers to: `crate::x` and `super::...::x`
/// climbing to the root from `path` (the file's module path).
fn references(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let word_at = |i: usize| -> String {
        code[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let boundary =
        |i: usize| i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
    for (i, _) in code.match_indices("crate::") {
        if boundary(i) {
            out.insert(word_at(i + "crate::".len()));
        }
    }
    for (i, _) in code.match_indices("super::") {
        if !boundary(i) || (i >= 2 && &code[i - 2..i] == "::") {
            continue;
        }
        // Count the chain of `super::`, then the name after it.
        let mut j = i;
        let mut ups = 0;
        while code[j..].starts_with("super::") {
            ups += 1;
            j += "super::".len();
        }
        let name = word_at(j);
        // From a file with module path p, `super` is p minus its last part.
        if ups == path.len() {
            out.insert(name);
        }
    }
    out.remove("");
    out
}

#[test]
fn layers_point_one_way_and_top_level_modules_form_no_cycle() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("src/lib.rs");
    let order = declared_order(&lib);
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    // top-level module -> (imported module -> files importing it)
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut violations = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).expect("under src/");
        let path = module_path(rel);
        let Some(top) = path.first().cloned() else {
            continue; // lib.rs: the root declares the modules
        };
        if top == "main" || top == "lib" || top == "bin" {
            continue; // the binaries (crates of their own: main.rs, bin/) and the root
        }
        assert!(
            rank.contains_key(top.as_str()),
            "module `{top}` ({}) is not in lib.rs's layer order {order:?}",
            rel.display()
        );
        let text = std::fs::read_to_string(f).expect("readable source");
        for r in references(&code(&text), &path) {
            if r == top || !rank.contains_key(r.as_str()) {
                continue;
            }
            graph
                .entry(top.clone())
                .or_default()
                .entry(r.clone())
                .or_default()
                .insert(rel.display().to_string());
            if rank[r.as_str()] > rank[top.as_str()] {
                violations.push(format!(
                    "{} ({top}) imports {r}, a higher layer",
                    rel.display()
                ));
            }
        }
    }
    println!("layer order: {}", order.join(" < "));
    for (m, deps) in &graph {
        let names: Vec<&str> = deps.keys().map(String::as_str).collect();
        println!("  {m:<8} imports {}", names.join(", "));
    }
    // A cycle among top-level modules (impossible when the order holds,
    // but named on its own so a failure says which modules close it).
    let cycles = cycles(&graph);
    for c in &cycles {
        println!("cycle: {}", c.join(" -> "));
    }
    println!(
        "{} files, {} upward imports, {} cycles",
        files.len(),
        violations.len(),
        cycles.len()
    );
    assert!(
        violations.is_empty(),
        "imports against the layer order:\n{}",
        violations.join("\n")
    );
    assert!(
        cycles.is_empty(),
        "top-level modules form cycles: {cycles:?}"
    );
}

/// The cycles of a module graph, each once, as paths that end where they start.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<Vec<String>> {
    fn walk(
        at: &str,
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        stack: &mut Vec<String>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == at) {
            let mut c: Vec<String> = stack[i..].to_vec();
            // One rotation per cycle: start at its smallest name.
            let min = c
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| *s)
                .map_or(0, |(i, _)| i);
            c.rotate_left(min);
            c.push(c[0].clone());
            found.insert(c);
            return;
        }
        stack.push(at.to_string());
        for next in graph.get(at).map(|d| d.keys()).into_iter().flatten() {
            walk(next, graph, stack, found);
        }
        stack.pop();
    }
    let mut found = BTreeSet::new();
    for m in graph.keys() {
        walk(m, graph, &mut Vec::new(), &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn the_reference_reader_sees_crate_and_climbing_super_paths_only() {
    let path = vec![
        "kernel".to_string(),
        "apply".to_string(),
        "link".to_string(),
    ];
    let text = "use crate::model::Op;\nuse super::super::super::plan::x;\nuse super::bond;\n// crate::engine in a comment\nlet a = crate::timing::record;";
    let got = references(&code(text), &path);
    let want: BTreeSet<String> = ["model", "plan", "timing"].map(String::from).into();
    assert_eq!(got, want);
    assert_eq!(
        module_path(Path::new("plan/mod.rs")),
        vec!["plan".to_string()]
    );
    let g: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = [
        ("a".to_string(), [("b".to_string(), BTreeSet::new())].into()),
        ("b".to_string(), [("a".to_string(), BTreeSet::new())].into()),
    ]
    .into();
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_string(), "b".to_string(), "a".to_string()]]
    );
}
