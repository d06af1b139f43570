//! Each file in tests/invalid holds one mistake; its first line says where the
//! first error must be and part of its message: `# expect: LINE:COL text`.
use std::path::{Path, PathBuf};

fn invalid_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("tests/invalid exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A file's text; some hold bytes that are not UTF-8, on purpose.
fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("readable")).into_owned()
}

/// (line, column, message part) from the `# expect:` comment.
fn expectation(path: &Path, text: &str) -> (usize, usize, String) {
    let first = text.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: first line must be `# expect: LINE:COL text`",
            path.display()
        )
    });
    let (pos, msg) = rest.split_once(' ').expect("position and message");
    let (line, col) = pos.split_once(':').expect("LINE:COL");
    (
        line.parse().expect("line"),
        col.parse().expect("column"),
        msg.to_string(),
    )
}

#[test]
fn each_invalid_file_reports_its_mistake_first() {
    let files = invalid_files();
    assert!(files.len() >= 25, "only {} invalid files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = read(path);
        let (line, col, msg) = expectation(path, &text);
        let errs = match netloom::spec::load(path) {
            Ok(_) => {
                failures.push(format!("{}: validated, but should not", path.display()));
                continue;
            }
            Err(e) => e,
        };
        // One mistake gives one error: no follow-on errors pile up.
        if errs.errors.len() != 1 {
            failures.push(format!(
                "{}: {} errors, expected 1: {:?}",
                path.display(),
                errs.errors.len(),
                errs.errors
            ));
        }
        let first = &errs.errors[0];
        if (first.at.line, first.at.column) != (line, col) || !first.message.contains(&msg) {
            failures.push(format!(
                "{}: expected {line}:{col} `{msg}`, got {}:{} `{}`",
                path.file_name().unwrap_or_default().to_string_lossy(),
                first.at.line,
                first.at.column,
                first.message
            ));
        }
        // Every error can be rendered with its help and as JSON.
        assert_eq!(
            errs.to_json().as_array().map(Vec::len),
            Some(errs.errors.len())
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn no_invalid_file_panics_even_when_cut_short() {
    // Every prefix of every invalid file is another invalid (or valid) input.
    for path in invalid_files() {
        let text = read(&path);
        let mut cut = 0;
        while cut <= text.len() {
            if text.is_char_boundary(cut) {
                let r =
                    std::panic::catch_unwind(|| netloom::spec::parse_str("x.yaml", &text[..cut]));
                assert!(r.is_ok(), "{} cut at {cut} panicked", path.display());
            }
            cut += 1;
        }
    }
}

#[test]
fn rendering_shows_location_and_help() {
    let text =
        "name: bad\nnodes:\n  a:\n    interfaces:\n      br0: { kind: bridge, stpp: true }\n";
    let errs = netloom::spec::parse_str("lab.yaml", text).unwrap_err();
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &errs)
        .expect("renders");
    assert!(out.contains("unknown field `stpp` for a bridge"), "{out}");
    assert!(out.contains("did you mean `stp`?"), "{out}");
    assert!(out.contains("stpp: true"), "{out}");
}

#[test]
fn a_missing_file_is_one_renderable_error() {
    let errs = netloom::spec::load(Path::new("/nonexistent/lab.yaml")).unwrap_err();
    assert_eq!(errs.errors.len(), 1);
    assert!(errs.errors[0].message.contains("cannot read"));
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &errs)
        .expect("renders");
    assert!(out.contains("cannot read"), "{out}");
}

#[test]
fn a_bom_at_the_start_is_accepted_and_columns_count_after_it() {
    let dir = std::env::temp_dir().join(format!("netloom-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, "\u{feff}name: bom\nnodes:\n  a: {}\n").unwrap();
    let t = netloom::spec::load(&good).expect("a leading BOM is allowed");
    assert_eq!(t.network.name, "bom");
    assert_eq!(netloom::spec::load_name(&good).unwrap(), "bom");
    // A mistake on the first line is located as if the BOM were not there.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "\u{feff}name: Bom\nnodes:\n  a: {}\n").unwrap();
    let e = netloom::spec::load(&bad).unwrap_err();
    assert_eq!((e.errors[0].at.line, e.errors[0].at.column), (1, 7));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn down_by_file_reads_no_name_from_a_file_cut_short() {
    // `down FILE` reads only the name; before the NUL check it read one
    // from the part of the file before a NUL and called the file fine.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid/nul-byte.yaml");
    let e = netloom::spec::load_name(&path).unwrap_err();
    assert_eq!((e.errors[0].at.line, e.errors[0].at.column), (4, 8));
}
