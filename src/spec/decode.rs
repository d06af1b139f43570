//! Decoding helpers: typed getters that report located errors, and field sets
//! that reject unknown fields with a did-you-mean.
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::error::{Location, SpecError};
use super::yaml::{Entry, Value, Yaml};
use crate::model::{IfRef, MacAddr};

/// Collects errors while decoding, plus the location of every named thing.
#[derive(Debug, Default)]
pub struct Ctx {
    /// Errors so far.
    pub errors: Vec<SpecError>,
    /// Locations by key: `node`, `node/iface`, and `node/iface#field` for references.
    pub locs: BTreeMap<String, Location>,
}

impl Ctx {
    /// Records an error.
    pub fn err(&mut self, at: Location, message: impl Into<String>, help: Option<String>) {
        self.errors.push(SpecError::new(at, message, help));
    }

    /// Records a "wrong type" error.
    pub fn expected(&mut self, y: &Yaml, what: &str) {
        self.err(y.at, format!("expected {what}, found {}", y.shape()), None);
    }

    /// Location of `key`, or of the best fallback known.
    pub fn loc(&self, key: &str, fallback: &str) -> Location {
        self.locs
            .get(key)
            .or_else(|| self.locs.get(fallback))
            .copied()
            .unwrap_or_default()
    }
}

/// Levenshtein distance, for did-you-mean suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest word in `words` to `got`, if close enough to be a typo.
pub fn closest<'a>(got: &str, words: &[&'a str]) -> Option<&'a str> {
    words
        .iter()
        .map(|w| (distance(got, w), *w))
        .filter(|(d, w)| *d <= 2.max(w.len() / 3) && *d < w.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, w)| w)
}

/// Help text: "did you mean `x`? <what> are: a, b, c".
pub fn suggest(got: &str, words: &[&str], what: &str) -> String {
    let list = words.join(", ");
    match closest(got, words) {
        Some(w) => format!("did you mean `{w}`? {what} are: {list}"),
        None => format!("{what} are: {list}"),
    }
}

/// The entries of a map, or an error; duplicates are reported as "duplicate <what>".
pub fn entries<'a>(cx: &mut Ctx, y: &'a Yaml, what: &str, map_of: &str) -> Vec<&'a Entry> {
    let Value::Map(list) = &y.value else {
        if !y.is_null() {
            cx.expected(y, map_of);
        }
        return Vec::new();
    };
    let mut out: Vec<&Entry> = Vec::with_capacity(list.len());
    // By key, so a map of a thousand nodes is not checked pairwise.
    let mut seen: HashMap<&str, &Entry> = HashMap::with_capacity(list.len());
    for e in list {
        if let Some(first) = seen.get(e.key.as_str()) {
            cx.err(
                e.key_at,
                format!("duplicate {what} `{}`", e.key),
                Some(format!("first written at line {}", first.key_at.line)),
            );
        } else {
            seen.insert(&e.key, e);
            out.push(e);
        }
    }
    out
}

/// A map with a fixed set of fields, each typed through the getters.
pub struct Fields<'a> {
    /// What this map is, e.g. "a bridge".
    pub what: String,
    /// The map itself (for its location).
    pub at: Location,
    list: Vec<&'a Entry>,
}

impl<'a> Fields<'a> {
    /// Reads a map whose fields must all be in `allowed`.
    pub fn new(cx: &mut Ctx, y: &'a Yaml, what: &str, allowed: &[&str]) -> Option<Self> {
        if !matches!(y.value, Value::Map(_)) && !y.is_null() {
            cx.expected(y, &format!("a map of {what} fields"));
            return None;
        }
        let list = entries(cx, y, "field", "a map");
        let mut kept = Vec::new();
        for e in list {
            if allowed.contains(&e.key.as_str()) {
                kept.push(e);
            } else {
                cx.err(
                    e.key_at,
                    format!("unknown field `{}` for {what}", e.key),
                    Some(suggest(&e.key, allowed, &format!("fields of {what}"))),
                );
            }
        }
        Some(Fields {
            what: what.to_string(),
            at: y.at,
            list: kept,
        })
    }

    /// The field's value, if written (a null value counts as not written).
    pub fn get(&self, key: &str) -> Option<&'a Yaml> {
        self.list
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
            .filter(|v| !v.is_null())
    }

    /// The field's entry (key location included).
    pub fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.list.iter().find(|e| e.key == key).copied()
    }

    /// Keys written, in order.
    pub fn keys(&self) -> impl Iterator<Item = &'a Entry> + '_ {
        self.list.iter().copied()
    }

    /// A required field; reports it missing.
    pub fn need(&self, cx: &mut Ctx, key: &str) -> Option<&'a Yaml> {
        let v = self.get(key);
        if v.is_none() {
            cx.err(self.at, format!("{} needs `{key}`", self.what), None);
        }
        v
    }

    /// A boolean field.
    pub fn bool(&self, cx: &mut Ctx, key: &str) -> Option<bool> {
        self.get(key).and_then(|y| bool_of(cx, y))
    }

    /// An unsigned field within `min..=max`.
    pub fn uint(&self, cx: &mut Ctx, key: &str, min: u64, max: u64) -> Option<u64> {
        self.get(key).and_then(|y| uint_of(cx, y, key, min, max))
    }

    /// A u32 field (any value).
    pub fn u32(&self, cx: &mut Ctx, key: &str) -> Option<u32> {
        self.uint(cx, key, 0, u32::MAX.into())
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A whole-number field the kernel takes only in `min..=max`: out of
    /// range, the error says so and `why` (the kernel rule) is its help.
    pub fn kernel_range(
        &self,
        cx: &mut Ctx,
        key: &str,
        (min, max): (u64, u64),
        why: &str,
    ) -> Option<u64> {
        let y = self.get(key)?;
        let v = uint_of(cx, y, key, 0, u64::MAX)?;
        if !(min..=max).contains(&v) {
            cx.err(
                y.at,
                format!("`{key}` {v} is out of range: the kernel takes {min}..={max}"),
                Some(why.to_string()),
            );
            return None;
        }
        Some(v)
    }

    /// A u16 field within `min..=max`.
    pub fn u16(&self, cx: &mut Ctx, key: &str, min: u16, max: u16) -> Option<u16> {
        self.uint(cx, key, min.into(), max.into())
            .and_then(|v| u16::try_from(v).ok())
    }

    /// A signed 32-bit field.
    pub fn i32(&self, cx: &mut Ctx, key: &str) -> Option<i32> {
        self.get(key).and_then(|y| int_of(cx, y, key))
    }

    /// A string field.
    pub fn str(&self, cx: &mut Ctx, key: &str) -> Option<String> {
        self.get(key)
            .and_then(|y| str_of(cx, y))
            .map(str::to_string)
    }

    /// A field whose value is one of `words`.
    pub fn word(&self, cx: &mut Ctx, key: &str, words: &[&str]) -> Option<String> {
        self.get(key).and_then(|y| word_of(cx, y, key, words))
    }

    /// An IP address field (no prefix length).
    pub fn ip(&self, cx: &mut Ctx, key: &str) -> Option<IpAddr> {
        self.get(key).and_then(|y| ip_of(cx, y))
    }

    /// A list field (absent -> empty).
    pub fn list(&self, cx: &mut Ctx, key: &str) -> &'a [Yaml] {
        match self.get(key) {
            Some(y) => list_of(cx, y),
            None => &[],
        }
    }
}

/// A scalar's text, or an error.
pub fn str_of<'a>(cx: &mut Ctx, y: &'a Yaml) -> Option<&'a str> {
    match &y.value {
        Value::Scalar { text, .. } if !y.is_null() => Some(text),
        _ => {
            cx.expected(y, "a string");
            None
        }
    }
}

/// An unquoted scalar's text (numbers and booleans must not be quoted).
fn plain_of(y: &Yaml) -> Option<&str> {
    match &y.value {
        Value::Scalar { text, plain: true } => Some(text),
        _ => None,
    }
}

/// A boolean (`true` / `false`).
pub fn bool_of(cx: &mut Ctx, y: &Yaml) -> Option<bool> {
    match plain_of(y) {
        Some("true" | "True" | "TRUE") => Some(true),
        Some("false" | "False" | "FALSE") => Some(false),
        _ => {
            cx.err(
                y.at,
                format!("expected true or false, found {}", show(y)),
                None,
            );
            None
        }
    }
}

/// How a value looks in a message.
pub fn show(y: &Yaml) -> String {
    match &y.value {
        Value::Scalar { text, plain: true } if !y.is_null() => format!("`{text}`"),
        Value::Scalar { text, plain: false } => format!("the quoted string \"{text}\""),
        _ => y.shape().to_string(),
    }
}

/// An unsigned integer in `min..=max`.
pub fn uint_of(cx: &mut Ctx, y: &Yaml, key: &str, min: u64, max: u64) -> Option<u64> {
    let Some(v) = plain_of(y).and_then(|t| t.parse::<u64>().ok()) else {
        let negative =
            plain_of(y).is_some_and(|t| t.starts_with('-') && t[1..].parse::<u64>().is_ok());
        if negative {
            cx.err(
                y.at,
                format!("`{key}` is out of range: expected {min}..={max}"),
                None,
            );
        } else {
            cx.err(
                y.at,
                format!("expected a whole number for `{key}`, found {}", show(y)),
                None,
            );
        }
        return None;
    };
    if v < min || v > max {
        cx.err(
            y.at,
            format!("`{key}` {v} is out of range: expected {min}..={max}"),
            None,
        );
        return None;
    }
    Some(v)
}

/// A signed 32-bit integer.
pub fn int_of(cx: &mut Ctx, y: &Yaml, key: &str) -> Option<i32> {
    let v = plain_of(y).and_then(|t| t.parse::<i64>().ok());
    match v.map(i32::try_from) {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            cx.err(
                y.at,
                format!("`{key}` is out of range for a 32-bit integer"),
                None,
            );
            None
        }
        None => {
            cx.err(
                y.at,
                format!("expected a whole number for `{key}`, found {}", show(y)),
                None,
            );
            None
        }
    }
}

/// One of a fixed set of words.
pub fn word_of(cx: &mut Ctx, y: &Yaml, key: &str, words: &[&str]) -> Option<String> {
    let t = str_of(cx, y)?;
    if words.contains(&t) {
        return Some(t.to_string());
    }
    cx.err(
        y.at,
        format!("`{t}` is not a valid `{key}`"),
        Some(suggest(t, words, &format!("`{key}` values"))),
    );
    None
}

/// A list, or an error.
pub fn list_of<'a>(cx: &mut Ctx, y: &'a Yaml) -> &'a [Yaml] {
    match &y.value {
        Value::Seq(items) => items,
        _ => {
            cx.expected(y, "a list");
            &[]
        }
    }
}

/// An IP address without prefix length.
pub fn ip_of(cx: &mut Ctx, y: &Yaml) -> Option<IpAddr> {
    let t = str_of(cx, y)?;
    match t.parse() {
        Ok(a) => Some(a),
        Err(_) if t.contains('/') => {
            cx.err(
                y.at,
                format!("`{t}` has a prefix length where a single address is wanted"),
                Some(format!("write `{}`", t.split('/').next().unwrap_or(t))),
            );
            None
        }
        Err(_) => {
            cx.err(y.at, format!("`{t}` is not an IP address"), None);
            None
        }
    }
}

/// An address with prefix length (`10.0.3.1/24`); a bare address is an error.
pub fn net_of(cx: &mut Ctx, y: &Yaml) -> Option<IpNet> {
    let t = str_of(cx, y)?;
    if let Ok(a) = t.parse::<IpAddr>() {
        let len = if a.is_ipv4() { 24 } else { 64 };
        cx.err(
            y.at,
            format!("address `{t}` has no prefix length"),
            Some(format!("write the subnet's length, e.g. `{t}/{len}`")),
        );
        return None;
    }
    match t.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            cx.err(
                y.at,
                format!("`{t}` is not an address with prefix length like 10.0.0.1/24"),
                None,
            );
            None
        }
    }
}

/// A MAC address a device can have: the kernel refuses a multicast one
/// (broadcast included) and all zeros, as `is_valid_ether_addr` says, with
/// EADDRNOTAVAIL (each kind's `validate`, eth_mac_addr, eth_validate_addr).
pub fn mac_of(cx: &mut Ctx, y: &Yaml) -> Option<MacAddr> {
    let t = str_of(cx, y)?;
    let m: MacAddr = match t.parse() {
        Ok(m) => m,
        Err(e) => {
            cx.err(y.at, e, None);
            return None;
        }
    };
    let what = if m.0 == [0; 6] {
        "all zeros"
    } else if m.0 == [0xff; 6] {
        "the broadcast address"
    } else if m.0[0] & 1 == 1 {
        "a multicast address (the low bit of its first byte is set)"
    } else {
        return Some(m);
    };
    cx.err(
        y.at,
        format!("MAC address `{t}` is {what}, which no device may have"),
        Some("the kernel refuses it (is_valid_ether_addr: EADDRNOTAVAIL); use a unicast address such as 02:00:00:00:00:01, whose first byte is even".into()),
    );
    None
}

/// A duration written with `ms` or `s`, in milliseconds (at most one hour).
pub fn duration_ms(cx: &mut Ctx, y: &Yaml) -> Option<u32> {
    let t = str_of(cx, y)?;
    let ms = if let Some(n) = t.strip_suffix("ms") {
        n.parse::<u64>().ok()
    } else if let Some(n) = t.strip_suffix('s') {
        n.parse::<u64>().ok().and_then(|s| s.checked_mul(1000))
    } else {
        None
    };
    match ms {
        Some(ms) if ms > 0 && Duration::from_millis(ms) <= Duration::from_secs(3600) => {
            u32::try_from(ms).ok()
        }
        Some(_) => {
            cx.err(
                y.at,
                format!("duration `{t}` is out of range: expected 1ms..=3600s"),
                None,
            );
            None
        }
        None => {
            cx.err(
                y.at,
                format!("`{t}` is not a duration"),
                Some("write a whole number with `ms` or `s`, e.g. `500ms` or `2s`".into()),
            );
            None
        }
    }
}

/// Bytes the kernel's `isspace` (lib/ctype.c) calls space: `\t \n \v \f \r`,
/// space and 0xA0 (Latin-1's no-break space, also a byte of UTF-8 `à`, `Ġ`...).
fn kernel_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0xa0)
}

/// Checks an interface name against the kernel's rules (`dev_valid_name`:
/// below IFNAMSIZ bytes, not `.` or `..`, no `/`, `:` or byte `isspace` holds for).
pub fn iface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an interface name cannot be empty".into())
    } else if name.len() > 15 {
        Some(format!(
            "interface name `{name}` is {} bytes; the kernel allows at most 15",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some(format!("`{name}` cannot be an interface name"))
    } else if name.contains(['/', ':']) || name.bytes().any(kernel_space) {
        Some(format!(
            "interface name `{}` contains `/`, `:` or whitespace (to the kernel: tab, line breaks, space, or byte 0xA0, which UTF-8 `à` holds), which the kernel refuses", name.escape_debug()
        ))
    } else {
        None
    }
}

/// Reads `iface` (in `node`) or `other/iface` into an interface reference.
pub fn ifref_of(cx: &mut Ctx, y: &Yaml, node: &str, other_nodes: bool) -> Option<IfRef> {
    let t = str_of(cx, y)?;
    let (n, i) = match t.split_once('/') {
        Some((n, i)) => (n, i),
        None => (node, t),
    };
    if n != node && !other_nodes {
        cx.err(
            y.at,
            format!("`{t}` is in node `{n}`, but it must be in the same node `{node}`"),
            Some(format!(
                "name an interface of `{node}` without a node prefix"
            )),
        );
        return None;
    }
    if let Some(p) = iface_name_problem(i) {
        cx.err(y.at, p, None);
        return None;
    }
    Some(IfRef {
        node: n.to_string(),
        name: i.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse;

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(closest("stpp", &["stp", "mtu", "ports"]), Some("stp"));
        assert_eq!(closest("zzzzzz", &["stp", "mtu"]), None);
    }

    #[test]
    fn unknown_fields_and_duplicates_are_reported() {
        let y = parse("{ stpp: 1, mtu: 2, mtu: 3 }").unwrap();
        let mut cx = Ctx::default();
        let f = Fields::new(&mut cx, &y, "a bridge", &["stp", "mtu"]).unwrap();
        assert_eq!(cx.errors.len(), 2);
        assert!(cx.errors[0].message.contains("duplicate field `mtu`"));
        assert!(cx.errors[1]
            .message
            .contains("unknown field `stpp` for a bridge"));
        assert!(cx.errors[1]
            .help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `stp`?"));
        assert_eq!(f.u32(&mut cx, "mtu"), Some(2));
    }

    #[test]
    fn typed_getters_check_types_and_ranges() {
        let y =
            parse("{ a: 'true', b: 70000, c: -1, d: 10.0.0.1, e: 2s, f: 150ms, g: x }").unwrap();
        let mut cx = Ctx::default();
        let f = Fields::new(&mut cx, &y, "a test", &["a", "b", "c", "d", "e", "f", "g"]).unwrap();
        assert_eq!(f.bool(&mut cx, "a"), None);
        assert_eq!(f.u16(&mut cx, "b", 0, 65535), None);
        assert_eq!(f.u32(&mut cx, "c"), None);
        assert_eq!(net_of(&mut cx, f.get("d").unwrap()), None);
        assert_eq!(duration_ms(&mut cx, f.get("e").unwrap()), Some(2000));
        assert_eq!(duration_ms(&mut cx, f.get("f").unwrap()), Some(150));
        assert_eq!(duration_ms(&mut cx, f.get("g").unwrap()), None);
        assert_eq!(cx.errors.len(), 5);
        assert!(cx.errors[3].message.contains("no prefix length"));
    }

    #[test]
    fn interface_names_follow_kernel_rules() {
        assert!(iface_name_problem("eth0.2").is_none());
        assert!(iface_name_problem("").is_some());
        assert!(iface_name_problem("abcdefghijklmnop").is_some());
        assert!(iface_name_problem("a/b").is_some());
        assert!(iface_name_problem("a b").is_some());
        assert!(iface_name_problem("..").is_some());
        // The kernel's isspace, byte by byte: 0xA0 is space, U+2003 is not.
        assert!(iface_name_problem("eth\u{e0}").is_some());
        assert!(iface_name_problem("a\u{a0}").is_some());
        assert!(iface_name_problem("a\u{2003}b").is_none());
        assert!(iface_name_problem("a\u{e9}").is_none());
    }
}
