//! Errors with a file position.

use std::fmt;

/// A scenario problem at a position in a file (`line` and `col` are 1-based;
/// both are 0 for errors that have no position, such as I/O failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Maps byte offsets of a source text to 1-based line and column numbers.
/// Columns count characters, not bytes.
#[derive(Debug)]
pub(crate) struct LineMap<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineMap<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineMap { src, line_starts }
    }

    /// Line and column of byte offset `pos` (clamped to the text, and moved
    /// back to a character boundary).
    pub(crate) fn line_col(&self, pos: usize) -> (usize, usize) {
        let mut pos = pos.min(self.src.len());
        while !self.src.is_char_boundary(pos) {
            pos -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= pos);
        let start = self.line_starts[line - 1];
        let col = self.src[start..pos].chars().count() + 1;
        (line, col)
    }
}
