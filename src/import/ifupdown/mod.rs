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

#[cfg(test)]
mod tests {
    use super::*;

    /// Import `text` (as /etc/network/interfaces under a fresh root).
    fn imp(text: &str, stand_ins: bool) -> Result<crate::import::Imported, ImportErrors> {
        let root = std::env::temp_dir().join(format!(
            "netloom-ifupdown-{}-{}",
            std::process::id(),
            text.len() * 2 + usize::from(stand_ins)
        ));
        std::fs::create_dir_all(root.join("etc/network")).unwrap();
        std::fs::write(root.join("etc/network/interfaces"), text).unwrap();
        let got = import(&Options {
            root: Some(root.clone()),
            stand_ins,
            ..Options::default()
        });
        std::fs::remove_dir_all(&root).unwrap();
        got
    }

    fn link<'a>(got: &'a crate::import::Imported, name: &str) -> &'a crate::model::Link {
        &got.topology.network.nodes["host"].links[name]
    }

    #[test]
    fn kinds_come_from_options_and_names() {
        let got = imp(
            "iface eth1 inet manual\n  bond-master bond7\niface eth2 inet manual\n  bond-master bond7\niface br0 inet manual\n  bridge_ports eth0.5\niface d0\n  link-type dummy\n",
            true,
        )
        .unwrap();
        use crate::model::LinkKind;
        // A bond made by its ports' `bond-master` lines alone.
        assert!(matches!(link(&got, "bond7").kind, LinkKind::Bond(_)));
        assert_eq!(link(&got, "eth1").master.as_deref(), Some("bond7"));
        // bridge-utils makes a dotted port as a VLAN on the port before the dot.
        let LinkKind::Vlan(v) = &link(&got, "eth0.5").kind else {
            panic!()
        };
        assert_eq!((v.id, v.lower.as_ref().unwrap().name.as_str()), (5, "eth0"));
        assert!(
            matches!(link(&got, "eth0").kind, LinkKind::Veth(_)),
            "a stand-in"
        );
        assert!(matches!(link(&got, "d0").kind, LinkKind::Dummy(_)));
    }

    #[test]
    fn vrfs_take_their_members_and_the_members_gateways_go_in_their_table() {
        let got = imp(
            "auto mgmt\niface mgmt\n  vrf-table auto\nauto eth0\niface eth0 inet static\n  address 10.36.0.2/24\n  gateway 10.36.0.1\n  vrf mgmt\niface blue\n  vrf-table 20\niface eth1\n  vrf blue\niface eth2\n  vrf nosuch\niface red\n  vrf-table 0\n",
            true,
        )
        .unwrap();
        use crate::model::LinkKind;
        let table = |name: &str| match &link(&got, name).kind {
            LinkKind::Vrf(v) => v.table,
            other => panic!("{name}: {other:?}"),
        };
        // `auto` as ifupdown2 allocates it: from 1001, in file order.
        assert_eq!((table("mgmt"), table("blue")), (1001, 20));
        assert_eq!(link(&got, "eth0").master.as_deref(), Some("mgmt"));
        assert_eq!(link(&got, "eth1").master.as_deref(), Some("blue"));
        assert_eq!(link(&got, "eth2").master, None);
        let host = &got.topology.network.nodes["host"];
        assert!(!host.links.contains_key("red"));
        let gw: Vec<_> = host.routes.iter().filter(|r| r.via.is_some()).collect();
        assert_eq!(gw.len(), 1, "{:?}", host.routes);
        assert_eq!(gw[0].table, Some(1001), "{:?}", gw[0]);
        let skipped: Vec<String> = got
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.from.text, s.reason))
            .collect();
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("vrf nosuch: membership of a VRF that no stanza makes")),
            "{skipped:#?}"
        );
        assert!(
            skipped
                .iter()
                .any(|s| s.contains("vrf-table 0: not a routing table")),
            "{skipped:#?}"
        );
    }

    #[test]
    fn a_vxlans_default_destination_is_svcnodeip_whatever_the_line_order() {
        let got = imp(
            "iface vx0\n  vxlan-id 9\n  vxlan-remoteip 10.0.0.3\n  vxlan-svcnodeip 10.0.0.2\n",
            false,
        )
        .unwrap();
        let crate::model::LinkKind::Vxlan(v) = &link(&got, "vx0").kind else {
            panic!()
        };
        assert_eq!(v.remote, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(got.skipped.len(), 1);
        assert!(got.skipped[0].from.text.starts_with("vxlan-remoteip"));
    }

    #[test]
    fn templates_mappings_and_machine_ports_are_listed_not_lost() {
        let got = imp(
            "iface base inet static\n  mtu 1400\nauto eth0\niface eth0 inet static inherits base\n  address 10.0.0.1/24\nmapping eth1\n  script /bin/true\n  map X home\niface home inet dhcp\n",
            false,
        )
        .unwrap();
        let host = &got.topology.network.nodes["host"];
        assert!(!host.links.contains_key("base") && !host.links.contains_key("home"));
        assert_eq!(host.links["eth0"].kind, crate::model::LinkKind::External);
        let skipped: Vec<&str> = got.skipped.iter().map(|s| s.from.text.as_str()).collect();
        // The inherited mtu and the address are the machine's port's own.
        assert_eq!(
            skipped,
            vec!["mtu 1400", "address 10.0.0.1/24", "mapping", "iface home"],
            "{:#?}",
            got.skipped
        );
        assert!(got.notes.iter().any(|n| n.from.text == "iface base"));
        assert!(got.yaml.contains("# Not imported (4):"));
    }

    #[test]
    fn names_outside_the_grammar_of_the_file_are_refused_before_reading() {
        let only_auto = imp("auto lo /eth*\n", false).unwrap();
        let notes: Vec<&str> = only_auto.notes.iter().map(|n| n.reason.as_str()).collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("a pattern ifup matches")));
        let bad = import(&Options {
            name: "Bad Name".into(),
            ..Options::default()
        })
        .unwrap_err();
        assert!(bad.errors[0].message.contains("invalid topology name"));
        let node = import(&Options {
            node: "lab".into(),
            ..Options::default()
        })
        .unwrap_err();
        assert!(node.errors[0].message.contains("--stand-ins"));
    }
}
