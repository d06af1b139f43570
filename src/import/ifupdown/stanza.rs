//! The stanzas of interfaces(5): `iface`, `mapping`, `auto`/`allow-*`,
//! `source`/`source-directory` (followed into the files they name, in
//! place) and the rest, read from logical lines as ifupdown's
//! `read_interfaces_defn` (config.c) does, with ifupdown2's additions
//! (`iface NAME` without family and method).
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::glob;
use super::read::{self, Files, Line, Span, Word};
use crate::import::error::ImportError;

/// Most files one import reads (a `source` loop is cut by reading each file once).
const MAX_FILES: usize = 1000;

/// One option line of an `iface` stanza.
#[derive(Debug, Clone)]
pub struct Opt {
    /// The option name with `_` written `-` (ifupdown hands both spellings
    /// to its hook scripts as one variable, `IF_BRIDGE_PORTS`).
    pub key: String,
    /// The name as written.
    pub name: Word,
    /// The value as written (after the name, trimmed).
    pub value: String,
    /// Where the value stands.
    pub value_span: Span,
    /// The value's words.
    pub args: Vec<Word>,
}

impl Opt {
    /// The whole line's span (name through value).
    pub fn span(&self) -> Span {
        Span {
            file: self.name.span.file,
            start: self.name.span.start,
            len: self.value_span.start + self.value_span.len - self.name.span.start,
        }
    }

    /// The option as written, for lists (`bridge_ports eth0 eth1`).
    pub fn text(&self) -> String {
        format!("{} {}", self.name.text, self.value)
    }
}

/// An `iface NAME [FAMILY METHOD] [inherits TEMPLATE]` stanza.
#[derive(Debug, Clone)]
pub struct Stanza {
    /// The `iface` keyword (its span locates the stanza).
    pub keyword: Word,
    /// The interface name.
    pub name: Word,
    /// `inet` or `inet6`; `None` for ifupdown2's bare `iface NAME`.
    pub family: Option<Word>,
    /// The method (`static`, `manual`, `dhcp`, `loopback` ...).
    pub method: Option<Word>,
    /// The template named by `inherits`.
    pub inherits: Option<Word>,
    /// The options, in order.
    pub options: Vec<Opt>,
}

/// One top-level item of the files, in reading order.
#[derive(Debug, Clone)]
pub enum Item {
    /// An interface definition.
    Iface(Stanza),
    /// `auto` (class `auto`) or `allow-CLASS` with the names it lists.
    Allow {
        /// The keyword as written.
        keyword: Word,
        /// `auto` for `auto` and `allow-auto`, else the class.
        class: String,
        /// The interface names.
        names: Vec<Word>,
    },
    /// A `mapping` stanza with its `script` and `map` lines (never imported:
    /// it runs a script to choose a name).
    Mapping {
        /// The `mapping` keyword.
        keyword: Word,
        /// The whole first line.
        line: Span,
        /// The logical names its `map` lines give (their last word).
        names: Vec<String>,
    },
    /// Another keyword line that stands alone (`no-auto-down`,
    /// `no-scripts`, `rename`, ifupdown2's `vlan` stanza head...).
    Other {
        /// The keyword.
        keyword: Word,
        /// The whole line.
        line: Span,
        /// Its option lines (ifupdown2's `vlan` stanza has some).
        options: Vec<Opt>,
    },
}

/// Reads a file and everything it sources into items.
pub struct Reader<'a> {
    /// Where absolute paths are read from.
    pub root: Option<&'a Path>,
    /// Every file read.
    pub files: Files,
    /// Problems found (reading goes on where it can, to find them all).
    pub errors: Vec<ImportError>,
    /// Items, in reading order.
    pub items: Vec<Item>,
    /// Files seen (on-disk paths), read once each as ifupdown's `already_seen`.
    seen: HashSet<PathBuf>,
}

/// What the current line belongs to (ifupdown's `currently_processing`).
enum Open {
    None,
    Iface(usize),
    Mapping(usize),
    Other(usize),
}

impl<'a> Reader<'a> {
    /// A reader resolving absolute paths under `root`.
    pub fn new(root: Option<&'a Path>) -> Self {
        Reader {
            root,
            files: Files::default(),
            errors: Vec::new(),
            items: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Read `shown` (read from `disk`), named at `from` (a `source` line) or
    /// given by the user (`None`).
    pub fn read(&mut self, disk: &Path, shown: &str, from: Option<Span>) {
        let key = std::fs::canonicalize(disk).unwrap_or_else(|_| disk.to_path_buf());
        if !self.seen.insert(key) {
            return;
        }
        if self.files.len() >= MAX_FILES {
            let e = ImportError::nowhere(format!(
                "more than {MAX_FILES} files are sourced; {shown} and the rest are not read"
            ));
            self.errors.push(e);
            return;
        }
        let text = match read::read_text(&self.files, disk, shown, from) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(e);
                return;
            }
        };
        let file = self.files.add(shown.to_string(), text);
        let text = self.files.source(file).text.clone();
        let mut open = Open::None;
        for line in read::lines(file, &text) {
            open = self.line(&line, open);
        }
    }

    /// One logical line; what is open after it.
    fn line(&mut self, line: &Line, open: Open) -> Open {
        let words = line.words();
        let Some(first) = words.first().cloned() else {
            return open;
        };
        match first.text.as_str() {
            "iface" => self.iface(line, &words),
            "mapping" => {
                self.items.push(Item::Mapping {
                    keyword: first,
                    line: line.whole(),
                    names: Vec::new(),
                });
                Open::Mapping(self.items.len() - 1)
            }
            "auto" | "allow-auto" => self.allow(line, &words, "auto"),
            w if w.starts_with("allow-") && w.len() > 6 => {
                let class = w["allow-".len()..].to_string();
                self.allow(line, &words, &class)
            }
            "source" => {
                self.source(line, &words, false);
                Open::None
            }
            // config.c matches the word by `strlmatch(.., "source-dir")`.
            "source-dir" | "source-directory" => {
                self.source(line, &words, true);
                Open::None
            }
            "no-auto-down" | "no-scripts" | "rename" => {
                self.items.push(Item::Other {
                    keyword: first,
                    line: line.whole(),
                    options: Vec::new(),
                });
                Open::None
            }
            // ifupdown2's stanza for a VLAN of a VLAN-aware bridge.
            "vlan" => {
                self.items.push(Item::Other {
                    keyword: first,
                    line: line.whole(),
                    options: Vec::new(),
                });
                Open::Other(self.items.len() - 1)
            }
            _ => self.option(line, &words, open),
        }
    }

    /// An option line, attached to what is open.
    fn option(&mut self, line: &Line, words: &[Word], open: Open) -> Open {
        let name = words[0].clone();
        let Some((value, value_span)) = line.rest() else {
            let e = self.files.error(
                name.span,
                format!("option `{}` has no value", name.text),
                Some("ifupdown refuses an option with an empty value (config.c: \"option with empty value\")"),
            );
            self.errors.push(e);
            return open;
        };
        let opt = Opt {
            key: name.text.replace('_', "-"),
            name,
            value,
            value_span,
            args: words[1..].to_vec(),
        };
        match open {
            Open::Iface(i) => {
                if let Some(Item::Iface(s)) = self.items.get_mut(i) {
                    s.options.push(opt);
                }
            }
            Open::Other(i) => {
                if let Some(Item::Other { options, .. }) = self.items.get_mut(i) {
                    options.push(opt);
                }
            }
            Open::Mapping(i) if matches!(opt.key.as_str(), "script" | "map") => {
                if let (Some(Item::Mapping { names, .. }), Some(last)) =
                    (self.items.get_mut(i), opt.args.last())
                {
                    if opt.key == "map" {
                        names.push(last.text.clone());
                    }
                }
            }
            Open::Mapping(_) | Open::None => {
                let e = self.files.error(
                    opt.name.span,
                    format!("misplaced option `{}`: no `iface` stanza is open here", opt.name.text),
                    Some("options belong under an `iface` line; `auto`, `allow-*` and `source` lines close the stanza before them"),
                );
                self.errors.push(e);
            }
        }
        open
    }

    /// `iface NAME [FAMILY METHOD] [inherits TEMPLATE]`.
    fn iface(&mut self, line: &Line, words: &[Word]) -> Open {
        let keyword = words[0].clone();
        let Some(name) = words.get(1).cloned() else {
            let e = self.files.error(
                line.whole(),
                "`iface` needs an interface name",
                Some("write `iface NAME inet|inet6 METHOD`"),
            );
            self.errors.push(e);
            return Open::None;
        };
        let mut rest = words[2..].iter().cloned();
        let (mut family, mut method, mut inherits) = (None, None, None);
        let mut next = rest.next();
        if let Some(w) = next.clone().filter(|w| w.text != "inherits") {
            if !matches!(w.text.as_str(), "inet" | "inet6") {
                let e = self.files.error(
                    w.span,
                    format!("unknown address family `{}`", w.text),
                    Some("ifupdown on Linux knows `inet` and `inet6` (and `can`, `ipx`, which netloom does not model)"),
                );
                self.errors.push(e);
                return Open::None;
            }
            family = Some(w);
            let Some(m) = rest.next() else {
                let e = self.files.error(
                    line.whole(),
                    format!("`iface {}` names a family but no method", name.text),
                    Some("add a method: `static`, `manual`, `dhcp`, `loopback`, ..."),
                );
                self.errors.push(e);
                return Open::None;
            };
            method = Some(m);
            next = rest.next();
        }
        if let Some(w) = next {
            if w.text != "inherits" {
                let help = if w.text.starts_with("inherit") || w.text.starts_with("inheri") {
                    "did you mean `inherits`?"
                } else {
                    "after the method only `inherits TEMPLATE` may follow"
                };
                let e = self.files.error(
                    w.span,
                    format!("unexpected `{}` on the iface line", w.text),
                    Some(help),
                );
                self.errors.push(e);
                return Open::None;
            }
            match rest.next() {
                Some(t) => inherits = Some(t),
                None => {
                    let e = self.files.error(
                        w.span,
                        "`inherits` needs the name of the stanza to inherit from",
                        None,
                    );
                    self.errors.push(e);
                    return Open::None;
                }
            }
            if let Some(extra) = rest.next() {
                let e = self.files.error(
                    extra.span,
                    format!(
                        "unexpected `{}` after the inherited stanza's name",
                        extra.text
                    ),
                    None,
                );
                self.errors.push(e);
                return Open::None;
            }
        }
        self.items.push(Item::Iface(Stanza {
            keyword,
            name,
            family,
            method,
            inherits,
            options: Vec::new(),
        }));
        Open::Iface(self.items.len() - 1)
    }

    /// `auto NAME...` / `allow-CLASS NAME...`.
    fn allow(&mut self, line: &Line, words: &[Word], class: &str) -> Open {
        if words.len() < 2 {
            let e = self.files.error(
                line.whole(),
                format!("`{}` names no interface", words[0].text),
                Some("list the interfaces after it"),
            );
            self.errors.push(e);
            return Open::None;
        }
        self.items.push(Item::Allow {
            keyword: words[0].clone(),
            class: class.to_string(),
            names: words[1..].to_vec(),
        });
        Open::None
    }

    /// `source PATTERN...` or `source-directory DIR...`, read in place.
    fn source(&mut self, line: &Line, words: &[Word], directory: bool) {
        if words.len() < 2 {
            let e = self.files.error(
                line.whole(),
                format!("`{}` names no path", words[0].text),
                None,
            );
            self.errors.push(e);
            return;
        }
        let including = self.files.source(line.file).path.clone();
        let root = self.root;
        for w in &words[1..] {
            let (_, shown) = read::resolve(root, &including, &w.text);
            let found = glob::expand(&shown, |s| read::on_disk(root, s));
            if found.is_empty() && !glob::has_wildcard(&shown) {
                let what = if directory { "directory" } else { "file" };
                let e = self.files.error(
                    w.span,
                    format!("the sourced {what} {shown} does not exist"),
                    (!w.text.starts_with('/')).then_some(
                        "a relative path is relative to the directory of the file that names it",
                    ),
                );
                self.errors.push(e);
                continue;
            }
            for (disk, shown) in found {
                if !directory {
                    if disk.is_dir() {
                        let e = self.files.error(
                            w.span,
                            format!("{shown} is a directory"),
                            Some("use `source-directory` to read the files of a directory"),
                        );
                        self.errors.push(e);
                        continue;
                    }
                    self.read(&disk, &shown, Some(w.span));
                    continue;
                }
                if !disk.is_dir() {
                    let e = self
                        .files
                        .error(w.span, format!("{shown} is not a directory"), None);
                    self.errors.push(e);
                    continue;
                }
                for name in glob::directory_files(&disk) {
                    let file = disk.join(&name);
                    if file.is_file() {
                        self.read(
                            &file,
                            &format!("{}/{name}", shown.trim_end_matches('/')),
                            Some(w.span),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Reader<'static> {
        let dir = std::env::temp_dir().join(format!(
            "netloom-stanza-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("interfaces");
        std::fs::write(&f, text).unwrap();
        let mut r = Reader::new(None);
        r.read(&f, "interfaces", None);
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn stanzas_options_and_classes_are_read() {
        let r = read_str(
            "auto lo eth0\nallow-hotplug eth1\niface lo inet loopback\niface eth0 inet static\n  address 10.0.0.1/24\n  bridge_ports none\niface bond0\n  bond-slaves eth1 eth2\n",
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.items.len(), 5);
        let Item::Iface(s) = &r.items[3] else {
            panic!()
        };
        assert_eq!(s.name.text, "eth0");
        assert_eq!(s.options[1].key, "bridge-ports");
        assert_eq!(s.options[1].name.text, "bridge_ports");
        let Item::Iface(b) = &r.items[4] else {
            panic!()
        };
        assert!(b.family.is_none());
        assert_eq!(b.options[0].args.len(), 2);
        let Item::Allow { class, .. } = &r.items[1] else {
            panic!()
        };
        assert_eq!(class, "hotplug");
    }

    #[test]
    fn misplaced_and_empty_options_are_located() {
        let r = read_str("address 10.0.0.1\niface eth0 inet static\nmtu\nauto eth0\nmtu 1500\n");
        let places: Vec<String> = r
            .errors
            .iter()
            .map(|e| e.place.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(
            places,
            vec!["interfaces:1:1", "interfaces:3:1", "interfaces:5:1"]
        );
        assert!(r.errors[0].message.contains("misplaced"));
        assert!(r.errors[1].message.contains("no value"));
    }

    #[test]
    fn iface_lines_are_checked() {
        let r = read_str("iface eth0 ipx static\niface eth1 inet\niface eth2 inet static inherit base\niface eth3 inherits\n");
        let msgs: Vec<(usize, &str)> = r
            .errors
            .iter()
            .map(|e| (e.place.as_ref().unwrap().at.column, e.message.as_str()))
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert_eq!(msgs[0].0, 12);
        assert!(msgs[0].1.contains("unknown address family"));
        assert!(msgs[1].1.contains("no method"));
        assert_eq!(msgs[2].0, 24);
        assert_eq!(
            r.errors[2].help.as_deref(),
            Some("did you mean `inherits`?")
        );
        assert!(msgs[3].1.contains("needs the name"));
    }
}
