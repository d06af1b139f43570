//! The validator has the last word: a draft is rendered and read by
//! [`crate::spec`]; while it refuses a line, what that line stands for is
//! taken out and listed as not imported, with the validator's own message.
//! Each round takes out one item (the first refused one, in file order,
//! since a later complaint may follow from it), so the loop ends.
use super::draft::{self, Draft, Owner};
use super::{ImportError, Skip};
use crate::spec::Topology;

/// Render `d` until netloom accepts it; the text and its topology.
pub fn settle(d: &mut Draft) -> Result<(String, Topology), ImportError> {
    loop {
        let r = draft::render(d);
        let errs = match crate::spec::parse_str("import", &r.text) {
            Ok(t) => return Ok((r.text, t)),
            Err(e) => e,
        };
        let found = errs.errors.iter().find_map(|e| {
            let owner = r.owners.get(e.at.line.saturating_sub(1)).copied()?;
            (owner != Owner::Fixed).then_some((owner, e))
        });
        let Some((owner, e)) = found else {
            // Nothing refused is an imported item: the importer wrote
            // structure netloom does not read, which is a bug here.
            let first = &errs.errors[0];
            return Err(ImportError::nowhere(format!(
                "netloom's importer wrote a file netloom refuses at line {}: {} (please report this)\n{}",
                first.at.line, first.message, r.text
            )));
        };
        let mut reason = format!("netloom refuses it: {}", e.message);
        if let Some(h) = &e.help {
            reason.push_str(&format!(" ({h})"));
        }
        for from in draft::drop(d, owner) {
            d.skipped.push(Skip {
                from,
                reason: reason.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::draft::{Entry, From, Iface};
    use super::*;

    fn from(t: &str) -> From {
        From {
            at: None,
            text: t.into(),
        }
    }

    #[test]
    fn refused_lines_are_taken_out_with_the_validators_reason() {
        let mut br = Iface::new("br0", Some("bridge"));
        br.fields.push(Entry {
            yaml: "stp: true".into(),
            from: from("bridge_stp on"),
        });
        br.fields.push(Entry {
            yaml: "forward_delay: 0".into(),
            from: from("bridge_fd 0"),
        });
        let mut bond = Iface::new("bond0", Some("bond"));
        bond.fields.push(Entry {
            yaml: "miimon: 100".into(),
            from: from("bond-miimon 100"),
        });
        bond.fields.push(Entry {
            yaml: "updelay: 150".into(),
            from: from("bond-updelay 150"),
        });
        let mut d = Draft {
            name: "t".into(),
            node: "host".into(),
            wire: "wire".into(),
            ifaces: vec![br, bond],
            ..Draft::default()
        };
        let (text, topo) = settle(&mut d).unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            body.contains("stp: true") && !body.contains("forward_delay"),
            "{text}"
        );
        assert!(
            body.contains("miimon: 100") && !body.contains("updelay"),
            "{text}"
        );
        let texts: Vec<&str> = d.skipped.iter().map(|s| s.from.text.as_str()).collect();
        assert_eq!(texts, vec!["bridge_fd 0", "bond-updelay 150"]);
        assert!(
            d.skipped[0].reason.contains("forward_delay"),
            "{:?}",
            d.skipped
        );
        assert!(text.contains("# Not imported (2):"));
        assert_eq!(topo.network.nodes["host"].links.len(), 2);
    }
}
