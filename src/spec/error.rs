//! Located errors: every problem in a topology file points at its text.
use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceCode};

/// Where a piece of text sits in the file (line and column are 1-based; offset and len in bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line, counting from 1.
    pub line: usize,
    /// Column in characters, counting from 1.
    pub column: usize,
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes (0 for a point).
    pub len: usize,
}

impl Location {
    /// The start of the file, for problems with the file as a whole.
    pub const START: Location = Location {
        line: 1,
        column: 1,
        offset: 0,
        len: 0,
    };
}

/// One problem in a topology file: where, what is wrong, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// The offending text.
    pub at: Location,
    /// What is wrong.
    pub message: String,
    /// What would be right, when netloom can tell.
    pub help: Option<String>,
}

impl SpecError {
    /// An error at `at` with a message and optional help.
    pub fn new(at: Location, message: impl Into<String>, help: Option<String>) -> Self {
        SpecError {
            at,
            message: message.into(),
            help,
        }
    }
}

impl Diagnostic for SpecError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = LabeledSpan::new_with_span(Some("here".into()), (self.at.offset, self.at.len));
        Some(Box::new(std::iter::once(span)))
    }
}

/// All problems found in one file, with the file's text so each can be shown in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors {
    /// The file's path as given.
    pub path: String,
    /// The file's text (empty when it could not be read).
    pub source: String,
    /// The problems, in file order.
    pub errors: Vec<SpecError>,
}

impl SpecErrors {
    /// The errors as JSON: `[{file, line, column, message, help}]`, for machine-readable output.
    pub fn to_json(&self) -> serde_json::Value {
        let list = self
            .errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "file": self.path,
                    "line": e.at.line,
                    "column": e.at.column,
                    "message": e.message,
                    "help": e.help,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} error{} in the topology file",
            self.path,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for SpecErrors {}

/// The file's text, named by its path, so every rendered error reads
/// `[path:line:column]` like a compiler's.
impl SourceCode for SpecErrors {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.source.read_span(span, before, after)?;
        // miette counts the column of a span's start in bytes; the header
        // `[path:line:column]` shows it, so count characters, as Location does.
        let column = match self.source.get(..span.offset()) {
            Some(head) if before == 0 => {
                let line_start = head.rfind(['\n', '\r']).map_or(0, |i| i + 1);
                head[line_start..].chars().count()
            }
            _ => inner.column(),
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.path.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

impl Diagnostic for SpecErrors {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lists_every_error_with_its_place() {
        let errs = SpecErrors {
            path: "lab.yaml".into(),
            source: "name: x\n".into(),
            errors: vec![SpecError::new(
                Location {
                    line: 1,
                    column: 7,
                    offset: 6,
                    len: 1,
                },
                "bad",
                Some("fix".into()),
            )],
        };
        let j = errs.to_json();
        assert_eq!(j[0]["file"], "lab.yaml");
        assert_eq!(j[0]["line"], 1);
        assert_eq!(j[0]["column"], 7);
        assert_eq!(j[0]["help"], "fix");
        assert_eq!(errs.to_string(), "lab.yaml: 1 error in the topology file");
    }
}
