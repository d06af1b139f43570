//! Writing YAML: the values a topology file holds ([`Out`]), written in
//! the file's own style (flow maps and lists inline), quoted only where a
//! plain scalar would read back as something else. The mirror of
//! [`super::yaml`], used by [`super::export`] and each kind's `encode`.
use crate::model::IfRef;

/// A value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A scalar, written plain when that reads back as the same text.
    Scalar(String),
    /// A boolean or number, written plain.
    Plain(String),
    /// A list.
    Seq(Vec<Out>),
    /// A map, in order.
    Map(Vec<(String, Out)>),
}

/// The fields of a map, in order.
pub type Fields = Vec<(String, Out)>;

impl Out {
    /// A scalar from anything that prints; `true` and `false` (a
    /// boolean's words) are written plain.
    pub fn of(v: impl std::fmt::Display) -> Out {
        let s = v.to_string();
        if s == "true" || s == "false" {
            Out::Plain(s)
        } else {
            Out::Scalar(s)
        }
    }

    /// A list of scalars.
    pub fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> Out {
        Out::Seq(items.into_iter().map(Out::of).collect())
    }

    /// The value inline, in flow style: `{ a: 1, b: [x, y] }`.
    pub fn flow(&self) -> String {
        match self {
            Out::Scalar(s) => scalar(s),
            Out::Plain(s) => s.clone(),
            Out::Seq(items) => {
                let inner: Vec<String> = items.iter().map(Out::flow).collect();
                format!("[{}]", inner.join(", "))
            }
            Out::Map(m) if m.is_empty() => "{}".to_string(),
            Out::Map(m) => {
                let inner: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {}", scalar(k), v.flow()))
                    .collect();
                format!("{{ {} }}", inner.join(", "))
            }
        }
    }
}

/// Words a plain scalar may not be, or it reads back as a boolean or null.
const SPECIAL: &[&str] = &[
    "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
    "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
];

/// A scalar, plain when it is made only of characters that cannot start
/// or break YAML syntax in a flow collection, single-quoted otherwise.
pub fn scalar(s: &str) -> String {
    let plain_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ':' | '+');
    let safe = !SPECIAL.contains(&s)
        && s.chars().all(plain_char)
        && !s.starts_with(['-', ':', '.'])
        && !s.ends_with(':');
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Pushes `key: value` when `value` is set and not `default`.
pub fn put<T: PartialEq + std::fmt::Display>(
    out: &mut Fields,
    key: &str,
    value: &Option<T>,
    default: Option<T>,
) {
    if let Some(v) = value {
        if Some(v) != default.as_ref() {
            out.push((key.to_string(), Out::of(v)));
        }
    }
}

/// An interface reference as the file writes it from `node`: its name in
/// the same node, `node/name` in another.
pub fn ifref(r: &IfRef, node: &str) -> Out {
    if r.node == node {
        Out::of(&r.name)
    } else {
        Out::of(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is written reads back as the same text.
    #[test]
    fn scalars_read_back_as_written() {
        for s in [
            "eth0",
            "10.0.0.1/24",
            "fd00::1",
            "fd00::/64",
            "2001:db8::1/64",
            "02:00:00:00:00:01",
            "yes",
            "",
            "a b",
            "#x",
            "-x",
            "x:",
            "802.1ad",
            "1500",
            "it's",
            "{",
            "fe80::1%eth0",
        ] {
            let text = format!("k: {}", scalar(s));
            let y = crate::spec::yaml::parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let crate::spec::yaml::Value::Map(m) = y.value else {
                panic!("{text}")
            };
            let crate::spec::yaml::Value::Scalar { text: got, plain } = &m[0].value.value else {
                panic!("{text}")
            };
            assert_eq!(got, s, "{text}");
            if ["yes", ""].contains(&s) {
                assert!(!plain, "{text}");
            }
        }
        let m = Out::Map(vec![
            ("kind".into(), Out::of("bridge")),
            ("ports".into(), Out::list(["p1", "p2"])),
            ("x".into(), Out::Map(vec![])),
        ]);
        assert_eq!(m.flow(), "{ kind: bridge, ports: [p1, p2], x: {} }");
    }
}
