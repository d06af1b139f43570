//! The file's bytes as YAML text: UTF-8, a byte order mark only at the very
//! start, and only the characters YAML allows (its `c-printable` set).
//!
//! The YAML parser stops at a NUL as if the file ended there (a file with
//! one in the middle would be read cut short, silently), and reads a byte
//! order mark as part of the text around it: so both are settled here, before
//! parsing, each refused where it stands.
use super::error::{Location, SpecError};

/// The byte order mark, allowed (and dropped) only as the file's first character.
const BOM: char = '\u{feff}';

/// The file's bytes as text; invalid UTF-8 is refused at the line and column
/// of its first bad byte. The error comes with the text to show it in (the
/// bad bytes replaced by U+FFFD).
pub fn decode(bytes: Vec<u8>) -> Result<String, (String, SpecError)> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bad = e.as_bytes()[at];
        let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
        // The bytes before `at` are valid, so they are the same in `shown`,
        // where the bad sequence became one U+FFFD (3 bytes).
        let (body, skip) = match shown.strip_prefix(BOM) {
            Some(b) => (b.to_string(), BOM.len_utf8()),
            None => (shown.clone(), 0),
        };
        let err = SpecError::new(
            locate(&body, at - skip, '\u{fffd}'.len_utf8()),
            format!(
                "the file is not UTF-8: byte 0x{bad:02x} here does not belong to a UTF-8 character"
            ),
            Some("save the file as UTF-8".into()),
        );
        (body, err)
    })
}

/// `text` without its leading byte order mark, or the first character YAML
/// does not allow in it (NUL, another control character, a byte order mark
/// after the start), located in that text.
pub fn check(text: &str) -> Result<&str, (&str, SpecError)> {
    let body = text.strip_prefix(BOM).unwrap_or(text);
    match body.char_indices().find(|&(_, c)| !printable(c)) {
        None => Ok(body),
        Some((i, c)) => {
            let (what, help) = match c {
                '\0' => (
                    "a NUL byte".to_string(),
                    "a YAML file holds text: remove it (the file may be binary or damaged)",
                ),
                BOM => (
                    "a byte order mark (U+FEFF) after the start of the file".to_string(),
                    "YAML allows one only as the very first character: remove it",
                ),
                c => (
                    format!("the control character U+{:04X}", u32::from(c)),
                    "YAML does not allow it, not even quoted: remove it",
                ),
            };
            let err = SpecError::new(
                locate(body, i, c.len_utf8()),
                format!("{what} is not allowed in a topology file"),
                Some(help.into()),
            );
            Err((body, err))
        }
    }
}

/// YAML 1.2's `c-printable`: tab, line breaks, and every printable
/// character (no other C0 or C1 control character, no U+FFFE or U+FFFF).
/// The byte order mark is printable, but allowed only at the start.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}')
        || (('\u{a0}'..='\u{fffd}').contains(&c) && c != BOM)
        || c >= '\u{10000}'
}

/// The line and column of byte `offset` of `text`, spanning `len` bytes.
pub fn locate(text: &str, offset: usize, len: usize) -> Location {
    let before = &text[..offset];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: before.matches('\n').count() + 1,
        column: before[start..].chars().count() + 1,
        offset,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_at_the_start_is_dropped_and_elsewhere_refused() {
        assert_eq!(check("\u{feff}name: x\n"), Ok("name: x\n"));
        let (body, e) = check("\u{feff}name: x\nnodes: \u{feff}{}\n").unwrap_err();
        assert_eq!(body, "name: x\nnodes: \u{feff}{}\n");
        assert_eq!(
            (e.at.line, e.at.column, e.at.offset, e.at.len),
            (2, 8, 15, 3)
        );
        assert!(e.message.contains("byte order mark"), "{}", e.message);
    }

    #[test]
    fn nul_and_control_characters_are_located() {
        let (_, e) = check("name: t\nnodes:\n  a: {}\0\n").unwrap_err();
        assert_eq!((e.at.line, e.at.column), (3, 8));
        assert!(e.message.contains("NUL"), "{}", e.message);
        let (_, e) = check("a: 'é\u{1b}'\n").unwrap_err();
        assert_eq!((e.at.line, e.at.column), (1, 6));
        assert!(e.message.contains("U+001B"), "{}", e.message);
        for ok in ["a: b\r\n\tc: 'é ü \u{85} \u{a0} 😀'\n", ""] {
            assert_eq!(check(ok), Ok(ok));
        }
    }

    #[test]
    fn invalid_utf8_is_located_at_its_byte() {
        let (shown, e) = decode(b"name: x\nnodes:\n  \xc3\xa9b\x80c: {}\n".to_vec()).unwrap_err();
        assert_eq!((e.at.line, e.at.column, e.at.offset), (3, 5, 20));
        assert!(e.message.contains("0x80"), "{}", e.message);
        assert_eq!(&shown[e.at.offset..e.at.offset + e.at.len], "\u{fffd}");
        // After a BOM, columns count from the first character after it.
        let (_, e) = decode(b"\xef\xbb\xbfa\xff".to_vec()).unwrap_err();
        assert_eq!((e.at.line, e.at.column, e.at.offset), (1, 2, 1));
        assert_eq!(decode(b"name: x".to_vec()).unwrap(), "name: x");
    }
}
