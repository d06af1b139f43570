//! Every example file validates, names its idea in a first-line comment, and
//! proves its claim with at least one expectation.
use std::path::Path;

#[test]
fn every_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(path).expect("readable");
        assert!(
            text.starts_with("# "),
            "{} must start with a comment naming its idea",
            path.display()
        );
        match netloom::spec::load(path) {
            Ok(t) => {
                assert!(
                    !t.expect.is_empty(),
                    "{} has no expectations",
                    path.display()
                );
                // Examples never put addresses on the machine's own namespace.
                assert!(
                    !t.network.nodes.contains_key("host"),
                    "{} touches the host",
                    path.display()
                );
            }
            Err(e) => panic!("{} does not validate: {:#?}", path.display(), e.errors),
        }
        seen += 1;
    }
    assert!(seen >= 14, "expected at least 14 examples, found {seen}");
}
