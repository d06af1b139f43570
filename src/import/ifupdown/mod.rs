//! `netloom import ifupdown`: Debian's /etc/network/interfaces (ifupdown
//! 0.8, interfaces(5)), with bridge-utils', ifenslave's and the vlan
//! package's options, and ifupdown2's additions, as a netloom topology.
//!
//! The machine the files describe is node `host` (or `--node`). Its
//! physical ports (interfaces no option of the files creates) are
//! `kind: external`, so netloom makes what the files make above them and
//! never touches them; their own settings are listed as not imported. With
//! `--stand-ins` each becomes a veth end paired with a namesake in node
//! `wire`, so a copy of the machine's network comes up anywhere (in a lab
//! namespace, or a test's sandbox) with all its settings.
//!
//! Reading is done as ifupdown reads (see [`read`], [`stanza`], [`merge`]);
//! the mapping of options to netloom's fields is in [`convert`].
pub mod convert;
pub mod glob;
pub mod merge;
pub mod read;
pub mod stanza;
pub mod values;

use std::path::PathBuf;

use super::error::{ImportError, ImportErrors};
use super::{settle, Imported};

/// Where ifupdown reads its configuration.
pub const DEFAULT_FILE: &str = "/etc/network/interfaces";

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The file (default [`DEFAULT_FILE`]).
    pub file: Option<PathBuf>,
    /// Read absolute paths (the file's, and those it sources) under this
    /// directory, as in a mounted image of another machine.
    pub root: Option<PathBuf>,
    /// The topology's name.
    pub name: String,
    /// The node of the machine's interfaces.
    pub node: String,
    /// Physical ports as stand-ins (veth ends into node `wire`).
    pub stand_ins: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            file: None,
            root: None,
            name: "ifupdown".into(),
            node: crate::model::HOST.into(),
            stand_ins: false,
        }
    }
}

/// Import the interfaces file of `opts`: the topology text (it validates)
/// with what was not imported, or every problem of the files, located.
pub fn import(opts: &Options) -> Result<Imported, ImportErrors> {
    let shown = opts
        .file
        .as_ref()
        .map_or_else(|| DEFAULT_FILE.to_string(), |f| f.display().to_string());
    let fail = |errors: Vec<ImportError>| ImportErrors {
        what: shown.clone(),
        errors,
    };
    if !crate::spec::topology_name_ok(&opts.name) {
        return Err(fail(vec![ImportError::nowhere(format!(
            "invalid topology name {:?}: 1-24 characters: lowercase letters, digits, `_` and `-`, starting with a letter or digit",
            opts.name
        ))]));
    }
    if opts.node != crate::model::HOST && !opts.stand_ins {
        return Err(fail(vec![ImportError::nowhere(format!(
            "node {:?} is a namespace of its own: the machine's ports are not in it, so import with `--stand-ins`",
            opts.node
        ))]));
    }
    if opts.stand_ins && opts.node == "wire" {
        return Err(fail(vec![ImportError::nowhere(
            "node `wire` holds the stand-ins' peers: choose another `--node`",
        )]));
    }
    let root = opts.root.as_deref();
    let disk = read::on_disk(root, &shown);
    let mut reader = stanza::Reader::new(root);
    reader.read(&disk, &shown, None);
    let mut errors = std::mem::take(&mut reader.errors);
    let merged = merge::merge(&reader.files, &reader.items, &mut errors);
    let (mut draft, more) = convert::convert(&reader.files, &merged, opts.stand_ins, &opts.node);
    errors.extend(more);
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    draft.name = opts.name.clone();
    draft.header = header(&shown, opts, reader.files.len());
    let (_, topology) = settle::settle(&mut draft).map_err(|e| fail(vec![e]))?;
    // In reading order: files as read, places within a file.
    let order: Vec<String> = (0..reader.files.len())
        .map(|i| reader.files.source(i).path.clone())
        .collect();
    let key = |s: &super::Skip| {
        s.from.at.as_ref().map_or((usize::MAX, 0), |p| {
            let file = order.iter().position(|o| *o == p.source.path);
            (file.unwrap_or(usize::MAX), p.at.offset)
        })
    };
    draft.skipped.sort_by_key(key);
    draft.notes.sort_by_key(key);
    // Only the comments at the end moved: the text reads as validated.
    let yaml = super::draft::render(&draft).text;
    Ok(Imported {
        yaml,
        topology,
        skipped: draft.skipped,
        notes: draft.notes,
    })
}

/// The comment at the top of an imported file.
fn header(shown: &str, opts: &Options, files: usize) -> Vec<String> {
    let more = match files {
        0 | 1 => String::new(),
        2 => " and the file it sources".into(),
        n => format!(" and the {} files it sources", n - 1),
    };
    let mut h = vec![
        format!("Imported from {shown}{more} by `netloom import ifupdown`."),
        "Each object names the file:line it comes from; what netloom cannot".into(),
        "express is listed at the end, with its place and why.".into(),
    ];
    if opts.stand_ins {
        h.push(format!(
            "Node `{}` is a copy of the machine: its physical ports are stand-ins,",
            opts.node
        ));
        h.push("veth ends whose peers wait in node `wire`.".into());
    } else {
        h.push("Node `host` is this machine. Its physical ports are `kind: external`:".into());
        h.push("netloom makes what the files make above them and never changes them.".into());
    }
    h
}
