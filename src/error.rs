//! Errors a user can act on.
//!
//! Every error polsim shows names the place (`file:line:column`, and the field
//! where there is one), says what is wrong in one line and what to do in a
//! `help:` line. Policy errors also quote the offending source line with a
//! caret under the column, so a typo is found at a glance.
//!
//! Errors carry an [`ExitCode`] so that `main` maps them to the process exit
//! status without knowing which command produced them.

use std::fmt;
use std::path::{Path, PathBuf};

/// The process exit status, which encodes the domain outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything worked and every check held.
    Success = 0,
    /// A check or a test failed: the policy is invalid, an expectation did not hold.
    CheckFailed = 1,
    /// Usage or input error: unreadable file, malformed CSV, unknown field.
    InputError = 2,
}

/// A position in a file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem, rendered for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong: lowercase, no trailing period, user input in backticks.
    pub message: String,
    pub location: Option<Location>,
    /// The source line the location points into, shown with a caret.
    /// (A boxed `str`, one word smaller than a `String`: every `Result`
    /// of polsim carries a `Diagnostic`'s size.)
    pub snippet: Option<Box<str>>,
    /// How many characters the caret underlines (at least one).
    pub width: usize,
    /// What to do about it.
    pub help: Option<String>,
    /// Set by the dataset reader when the problem is in a column the caller
    /// asked for its own purpose (a `--by` breakdown's): the reader knows no
    /// command line, so the caller words that part of the message and help.
    /// Boxed: errors stay small, and this is rare.
    pub caller_column: Option<Box<CallerColumn>>,
}

/// A problem with a column read for the caller's purpose (see
/// [`Diagnostic::caller_column`]), naming the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerColumn {
    /// The header has no such column.
    Missing(String),
    /// A cell of the column is not of the column's type.
    BadCell(String),
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            location: None,
            snippet: None,
            width: 1,
            help: None,
            caller_column: None,
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Points at `location` and quotes the line from `source`, underlining `width` characters.
    pub fn at_source(mut self, location: Location, source: &str, width: usize) -> Self {
        self.snippet = source
            .lines()
            .nth(location.line.saturating_sub(1))
            .map(Box::from);
        self.width = width.max(1);
        self.location = Some(location);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn caller_column(mut self, column: Option<CallerColumn>) -> Self {
        self.caller_column = column.map(Box::new);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", printable(&self.message))?;
        if let Some(loc) = &self.location {
            write!(f, "\n  --> {}", printable(&loc.to_string()))?;
            if let Some(line) = self.snippet.as_deref() {
                let number = loc.line.to_string();
                let pad = " ".repeat(number.len());
                // The caret goes under the character as the line is shown,
                // escapes included; a tab stays a tab so the columns agree.
                // A long line is cut to a window around the place, so a
                // 100,000-character expression does not fill the screen.
                let (before, rest) = line
                    .char_indices()
                    .nth(loc.column.saturating_sub(1))
                    .map_or((line, ""), |(i, _)| line.split_at(i));
                let before = printable(before);
                let before = match before.char_indices().rev().nth(SNIPPET_BEFORE) {
                    Some((i, _)) => format!("…{}", &before[i..]),
                    None => before.into_owned(),
                };
                let marked: String = rest.chars().take(self.width).collect();
                let after: String = printable(&rest[marked.len()..])
                    .chars()
                    .take(SNIPPET_AFTER)
                    .collect();
                let mut marked = printable(&marked).into_owned();
                if let Some((i, _)) = marked.char_indices().nth(SNIPPET_MARKED) {
                    marked.truncate(i);
                }
                let cut = before.chars().count() + marked.chars().count() + after.chars().count()
                    < printable(line).chars().count();
                let indent: String = before
                    .chars()
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(
                    f,
                    "\n{pad} |\n{number} | {before}{marked}{after}{}\n{pad} | {indent}{}",
                    if cut && !after.is_empty() { "…" } else { "" },
                    "^".repeat(marked.chars().count().max(1))
                )?;
            }
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {}", printable(help))?;
        }
        Ok(())
    }
}

/// How much of a long source line a snippet shows: characters before the
/// place, underlined, and after it.
const SNIPPET_BEFORE: usize = 60;
const SNIPPET_MARKED: usize = 60;
const SNIPPET_AFTER: usize = 30;

/// `text` with every control character written as an escape (`\0`,
/// `\u{1b}`, `\n`), tabs excepted, and so are the characters that reorder
/// text on a terminal (bidirectional overrides): cell text, reason codes and
/// script strings reach messages, and must not clear a screen, move the
/// cursor, end a line early or hide what follows.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Everything that can stop a polsim run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file is invalid. Exit 2 from commands that run it, 1 from `check`.
    #[error("{}", render_all(.0))]
    Policy(Vec<Diagnostic>),
    /// The dataset is unreadable, malformed or does not fit the policy.
    #[error("{0}")]
    Data(Diagnostic),
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(Diagnostic),
    /// Reading or writing a file failed.
    #[error("error: cannot {action} `{}`: {source}\nhelp: {help}", printable(&path.display().to_string()))]
    Io {
        action: &'static str,
        path: PathBuf,
        help: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Writing to standard output failed (a closed pipe is not reported).
    #[error("error: cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    /// A check found problems (reported already); the run itself worked.
    #[error("{}", printable(.0))]
    CheckFailed(String),
}

fn render_all(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&d.to_string());
    }
    out
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::CheckFailed(_) => ExitCode::CheckFailed,
            _ => ExitCode::InputError,
        }
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        let help = match source.kind() {
            std::io::ErrorKind::InvalidData => {
                "test the file (`gzip -t FILE`, `zstd -t FILE`), or make it again"
            }
            _ => "check that the path exists and is readable",
        };
        Error::Io {
            action: "read",
            path: path.to_owned(),
            help,
            source,
        }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        // A missing directory: said plainly (the error of a temporary file
        // made beside the output reads "entity not found").
        if source.kind() == std::io::ErrorKind::NotFound
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            let dir = printable(&dir.display().to_string()).into_owned();
            return Error::usage(
                format!(
                    "cannot write `{}`: the directory `{dir}` does not exist",
                    printable(&path.display().to_string())
                ),
                format!("create it first (`mkdir -p {dir}`), or write the file elsewhere"),
            );
        }
        Error::Io {
            action: "write",
            path: path.to_owned(),
            help: "check that the directory exists and is writable",
            source,
        }
    }

    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Usage(Diagnostic::new(message).help(help))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The closest candidate to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A `help:` text suggesting the closest name, or listing what exists.
pub fn suggest(name: &str, what: &str, candidates: &[&str]) -> String {
    match did_you_mean(name, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None if candidates.is_empty() => format!("no {what} are defined"),
        None => format!(
            "{what} defined: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_and_help() {
        let source = "rules:\n  - when: { zhima_scor: 1 }\n";
        let d = Diagnostic::new("unknown field `zhima_scor`")
            .at_source(Location::new("p.yaml", 2, 13), source, 10)
            .help("did you mean `zhima_score`?");
        assert_eq!(
            d.to_string(),
            "error: unknown field `zhima_scor`\n  --> p.yaml:2:13\n  |\n2 |   - when: { zhima_scor: 1 }\n  |             ^^^^^^^^^^\nhelp: did you mean `zhima_score`?"
        );
    }

    #[test]
    fn control_characters_in_messages_are_escaped_and_the_caret_still_points() {
        let source = "reason: \"A\u{1b}[2J\"\tx: \u{0}b\n";
        let d = Diagnostic::new("bad code `A\u{1b}[2J\u{202e}`\nnext")
            .at_source(Location::new("p\u{7}.yaml", 1, 20), source, 2)
            .help("remove the `\r`");
        assert_eq!(
            d.to_string(),
            "error: bad code `A\\u{1b}[2J\\u{202e}`\\nnext\n  --> p\\u{7}.yaml:1:20\n  |\n1 | reason: \"A\\u{1b}[2J\"\tx: \\u{0}b\n  |                     \t   ^^^^^^\nhelp: remove the `\\r`"
        );
    }

    #[test]
    fn a_long_source_line_is_shown_as_a_window_around_the_place() {
        let line = format!("expr: \"{}x{}\"", "(".repeat(5000), ")".repeat(5000));
        let d = Diagnostic::new("too deep").at_source(Location::new("p.yaml", 1, 5008), &line, 1);
        let text = d.to_string();
        let shown = text.lines().nth(3).unwrap();
        assert!(shown.chars().count() < 120, "{shown}");
        assert!(
            shown.starts_with("1 | …((((") && shown.ends_with(")))…"),
            "{shown}"
        );
        let caret = text.lines().nth(4).unwrap();
        // The caret is under the `x`.
        let at = caret.find('^').unwrap();
        assert_eq!(shown.chars().nth(at), Some('x'), "{shown}\n{caret}");
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(
            did_you_mean("zhima_scor", ["age", "zhima_score"]),
            Some("zhima_score")
        );
        assert_eq!(did_you_mean("xyz", ["age", "zhima_score"]), None);
        assert_eq!(
            suggest("xyz", "fields", &["age", "income"]),
            "fields defined: `age`, `income`"
        );
    }
}
