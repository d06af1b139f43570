//! CNI protocol versions: which netloom speaks, how one is chosen from a
//! configuration's `cniVersion` and `cniVersions`, and which verbs each has
//! (CHECK came with 0.4.0, STATUS and GC with 1.1.0).
use super::error::{CniError, INCOMPATIBLE_VERSION};

/// Every version netloom's results can be written in, oldest first. 0.1.0
/// and 0.2.0 had another result shape (no `interfaces`) and are not spoken.
pub const SUPPORTED: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest version, used when a request names none that is usable.
pub const NEWEST: &str = "1.1.0";

/// A version as (major, minor, patch), `None` when not of that form.
pub fn parse(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

/// Whether netloom speaks `v`.
pub fn supported(v: &str) -> bool {
    SUPPORTED.contains(&v)
}

/// The version a request uses: its `cniVersion` when netloom speaks it;
/// without one, the highest of `cniVersions` netloom speaks (the spec's
/// rule for runtimes, SPEC.md "Version considerations").
pub fn choose(cni_version: Option<&str>, cni_versions: &[String]) -> Result<String, CniError> {
    let refuse = |asked: String| {
        CniError::new(INCOMPATIBLE_VERSION, "incompatible CNI version").with(format!(
            "{asked} is not supported; netloom-cni supports {}",
            SUPPORTED.join(", ")
        ))
    };
    match cni_version {
        Some(v) if supported(v) => Ok(v.to_string()),
        Some(v) => Err(refuse(format!("cniVersion {v:?}"))),
        None => cni_versions
            .iter()
            .filter(|v| supported(v))
            .max_by_key(|v| parse(v))
            .cloned()
            .ok_or_else(|| refuse(format!("none of cniVersions {cni_versions:?}"))),
    }
}

/// Whether results of version `v` carry the `version` field in `ips`
/// (0.3.x and 0.4.0 do; 1.0.0 dropped it).
pub fn ips_have_version(v: &str) -> bool {
    parse(v).is_some_and(|p| p < (1, 0, 0))
}

/// The oldest version that knows `verb`, for verbs younger than 0.3.0.
pub fn verb_since(verb: &str) -> Option<&'static str> {
    match verb {
        "CHECK" => Some("0.4.0"),
        "STATUS" | "GC" => Some("1.1.0"),
        _ => None,
    }
}

/// Refuse `verb` under version `v` when `v` predates it (as the reference
/// plugins' skeleton does: "config version does not allow CHECK").
pub fn allows(verb: &str, v: &str) -> Result<(), CniError> {
    match verb_since(verb) {
        Some(since) if parse(v) < parse(since) => Err(CniError::new(
            INCOMPATIBLE_VERSION,
            format!("config version does not allow {verb}"),
        )
        .with(format!(
            "{verb} needs cniVersion {since} or later, the configuration says {v}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_common_version_is_chosen_when_no_cni_version_is_given() {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            choose(None, &list(&["0.3.1", "1.0.0", "9.9.9"])).unwrap(),
            "1.0.0"
        );
        assert_eq!(choose(Some("0.4.0"), &list(&["1.1.0"])).unwrap(), "0.4.0");
        assert_eq!(
            choose(Some("2.0.0"), &[]).unwrap_err().code,
            INCOMPATIBLE_VERSION
        );
        assert_eq!(
            choose(None, &list(&["0.2.0"])).unwrap_err().code,
            INCOMPATIBLE_VERSION
        );
        assert_eq!(choose(None, &[]).unwrap_err().code, INCOMPATIBLE_VERSION);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse("0.10.0") > parse("0.4.0"));
        assert_eq!(parse("1.x.0"), None);
        assert_eq!(parse("1.0"), None);
    }

    #[test]
    fn younger_verbs_are_refused_under_older_versions() {
        assert!(allows("CHECK", "0.3.1").is_err());
        assert!(allows("CHECK", "0.4.0").is_ok());
        assert!(allows("GC", "1.0.0").is_err());
        assert!(allows("STATUS", "1.1.0").is_ok());
        assert!(allows("ADD", "0.3.0").is_ok());
        assert!(ips_have_version("0.4.0") && !ips_have_version("1.0.0"));
    }
}
