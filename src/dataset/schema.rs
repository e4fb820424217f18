//! Maps the columns a run reads onto the dataset's header.

use super::chunker::Header;
use super::value::FieldType;
use crate::error::{CallerColumn, Diagnostic, Error, Location, Result, did_you_mean};

/// A column a run reads, in projection order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub ty: FieldType,
    /// Why the column is read, so a message about it can say so.
    pub role: Role,
}

impl ColumnSpec {
    pub fn new(name: impl Into<String>, ty: FieldType) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            ty,
            role: Role::Policy,
        }
    }

    pub fn with_role(mut self, role: Role) -> ColumnSpec {
        self.role = role;
        self
    }
}

/// Why a run reads a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A condition, limit, exposure or key of the policy reads it.
    Policy,
    /// The policy declares it (`check --data` checks every declared field).
    Declared,
    /// `--by` breaks the report down by it.
    Segment,
    /// A bare `.rhai` policy reads it, typed by the first rows of the data
    /// (see `policy::rhai_file`): a later cell of another kind says so.
    Typed,
}

/// A column to read: where it is in each record and how to parse it.
#[derive(Debug, Clone)]
pub struct Projected {
    pub name: String,
    pub ty: FieldType,
    pub role: Role,
    /// Position in the CSV record, from 0.
    pub csv_index: usize,
}

/// The projection of a dataset: only these columns are parsed.
#[derive(Debug, Clone)]
pub struct Schema {
    /// How the dataset is named in messages (its path, or `<stdin>`).
    pub source: String,
    /// Number of fields every record must have.
    pub width: usize,
    pub columns: Vec<Projected>,
}

impl Schema {
    /// Resolves `columns` against `header`; a missing column is an error that
    /// lists the columns that do exist.
    pub fn resolve(source: &str, header: &Header, columns: &[ColumnSpec]) -> Result<Schema> {
        let mut projected = Vec::with_capacity(columns.len());
        for c in columns {
            let mut at = header
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| *n == c.name);
            match (at.next(), at.next()) {
                (Some((i, _)), None) => projected.push(Projected {
                    name: c.name.clone(),
                    ty: c.ty,
                    role: c.role,
                    csv_index: i,
                }),
                (Some(_), Some(_)) => {
                    return Err(Error::Data(
                        Diagnostic::new(format!("column `{}` appears more than once in the header", c.name))
                            .at(Location::new(source, header.line as usize, 1))
                            .help("rename or remove the duplicate column so it is clear which one to read"),
                    ));
                }
                (None, _) => return Err(missing_column(source, header, c)),
            }
        }
        Ok(Schema {
            source: source.to_owned(),
            width: header.names.len(),
            columns: projected,
        })
    }
}

fn missing_column(source: &str, header: &Header, column: &ColumnSpec) -> Error {
    let name = column.name.as_str();
    let why = match column.role {
        Role::Policy | Role::Typed => ", which the policy reads",
        Role::Declared => ", which the policy declares",
        Role::Segment => "",
    };
    let existing: Vec<&str> = header.names.iter().collect();
    // A name too long to be a column's is not suggested (nor compared).
    let plausible = existing.iter().copied().filter(|c| c.len() <= SHOWN_NAME);
    // A byte-order mark that is not the file's first bytes is part of a
    // name, invisibly: such a name is the likeliest match.
    let with_bom = existing
        .iter()
        .copied()
        .find(|c| c.trim_start_matches('\u{feff}') == name);
    let mut help = match with_bom.or_else(|| did_you_mean(name, plausible)) {
        Some(best) if looks_alike(best, name) => format!(
            "the column `{}` looks like `{name}` but differs in its bytes (another Unicode encoding of the accents): the column is `{}`, the policy's field `{}`; rename the column, or save the header and the policy in the same Unicode form (NFC, as most editors write); ",
            excerpt(best),
            escape_unicode(best),
            escape_unicode(name)
        ),
        Some(best) => format!("did you mean `{}`? ", excerpt(best)),
        None => String::new(),
    };
    if let [only] = existing.as_slice() {
        for sep in [';', '\t', '|'] {
            if only.contains(sep) {
                let shown = if sep == '\t' {
                    "tab".to_owned()
                } else {
                    format!("`{sep}`")
                };
                help.push_str(&format!(
                    "the header looks {shown}-separated, but polsim reads comma-separated files; "
                ));
            }
        }
    }
    help.push_str("the dataset has columns: ");
    let mut listed: Vec<String> = existing
        .iter()
        .take(SHOWN_COLUMNS)
        .map(|c| format!("`{}`", excerpt(c)))
        .collect();
    if existing.len() > SHOWN_COLUMNS {
        listed.push(format!("and {} more", existing.len() - SHOWN_COLUMNS));
    }
    help.push_str(&listed.join(", "));
    Error::Data(
        Diagnostic::new(format!("the dataset has no column `{name}`{why}"))
            .at(Location::new(source, header.line as usize, 1))
            .help(help)
            .caller_column(
                (column.role == Role::Segment).then(|| CallerColumn::Missing(name.to_owned())),
            ),
    )
}

/// Whether two different names may print alike: one composes an accent
/// from a combining mark where the other has a precomposed letter (Unicode
/// NFD against NFC), so that without the marks they have as many letters,
/// the same wherever both are ASCII.
fn looks_alike(a: &str, b: &str) -> bool {
    fn combining(c: char) -> bool {
        matches!(c, '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
    }
    if a == b || !(a.chars().any(combining) || b.chars().any(combining)) {
        return false;
    }
    let base = |s: &str| s.chars().filter(|c| !combining(*c)).collect::<Vec<char>>();
    let (x, y) = (base(a), base(b));
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(p, q)| p == q || !p.is_ascii() || !q.is_ascii())
}

/// A name with every character past ASCII written `\u{...}` (at most
/// `SHOWN_NAME` bytes of it).
fn escape_unicode(name: &str) -> String {
    let mut end = name.len().min(SHOWN_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end]
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c.to_string()
            } else {
                c.escape_unicode().to_string()
            }
        })
        .collect()
}

/// How many of the header's columns a message lists.
const SHOWN_COLUMNS: usize = 50;

/// The longest column name a message shows whole, in bytes.
const SHOWN_NAME: usize = 64;

/// A column name as a message shows it: at most `SHOWN_NAME` bytes (a
/// header that is not what it seems, say a whole file, is not printed),
/// control characters and a byte-order mark escaped.
fn excerpt(name: &str) -> String {
    let mut end = name.len().min(SHOWN_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut shown = String::with_capacity(end);
    for c in name[..end].chars() {
        if c.is_control() || c == '\u{feff}' {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    if end < name.len() {
        format!("{shown}…")
    } else {
        shown
    }
}
