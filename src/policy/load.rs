//! Reads a policy file into a [`PolicyDef`], checking its shape: known keys,
//! required keys, the right kind of node in each place. Every problem is
//! collected, so an author sees all of them at once.

use super::model::*;
use super::source::{Source, kind};
use crate::dataset::value::FieldType;
use crate::error::{Diagnostic, Error, Location, Result, suggest};
use marked_yaml::Node;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use std::path::Path;

const TOP_KEYS: &[&str] = &[
    "policy",
    "version",
    "description",
    "key",
    "params",
    "fields",
    "derive",
    "rules",
    "limit",
    "repayment",
    "observed",
    "script",
];
const RULE_KEYS: &[&str] = &["id", "reason", "description", "action", "when", "expr"];
const LIMIT_KEYS: &[&str] = &["when", "amount"];
const REPAYMENT_KEYS: &[&str] = &[
    "exposure",
    "outcomes",
    "loss_given_default",
    "merchant_fee_rate",
    "late_fee",
    "late_days",
    "bureau_after_days",
    "correlation",
];
const OUTCOME_KEYS: &[&str] = &["when", "p"];
/// Outcomes a repayment band may give a probability for (`on_time` is the rest).
pub const OUTCOME_NAMES: &[&str] = &["returned", "early", "late", "default"];

/// The largest policy or script file polsim reads. A policy is a page of
/// rules, not data; a larger file is almost always the wrong file.
pub const MAX_POLICY_BYTES: u64 = 4 << 20;

/// How deep mappings and lists may nest in a policy, in block or flow
/// style; expressions have the same limit ([`super::expr::MAX_DEPTH`]).
/// Reading, compiling and dropping a policy recurse, so a deeper one is
/// refused before it is built.
pub const MAX_NESTING: usize = 64;

/// Why a policy or script file could not be read.
pub enum ReadError {
    Io(std::io::Error),
    /// Larger than [`MAX_POLICY_BYTES`]: its size, or at least how much was there.
    TooLarge(u64),
}

/// Reads the file at `path`, refusing one over [`MAX_POLICY_BYTES`]: by its
/// size first, then by reading at most one byte more than the cap, so a
/// file that grows meanwhile, a FIFO or a device cannot get past it.
pub fn read_capped(path: &Path) -> std::result::Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > MAX_POLICY_BYTES {
        return Err(ReadError::TooLarge(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The message for a file over [`MAX_POLICY_BYTES`]: `what` is `a policy` or `a script`.
pub fn too_large_message(path: &Path, size: u64, what: &str) -> String {
    format!(
        "`{}` is {} or more, and {what} file may be at most {} MiB",
        path.display(),
        human_size(size),
        MAX_POLICY_BYTES >> 20
    )
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} bytes"),
    }
}

/// Reads and parses the policy at `path`.
pub fn load_file(path: &Path) -> Result<(Source, PolicyDef)> {
    let at = || Location::new(path, 1, 1);
    let bytes = match read_capped(path) {
        Ok(b) => b,
        Err(ReadError::Io(e)) => return Err(Error::read(path, e)),
        Err(ReadError::TooLarge(size)) => {
            return Err(Error::Usage(
                Diagnostic::new(too_large_message(path, size, "a policy"))
                    .at(at())
                    .help("check that this is the policy: it comes first, and the dataset after `--data`"),
            ));
        }
    };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(Error::Usage(
            Diagnostic::new(format!(
                "`{}` looks like a dataset, not a policy",
                path.display()
            ))
            .at(at())
            .help("give the policy (YAML) first and the dataset with `--data FILE`"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Policy(vec![
            Diagnostic::new(format!("the policy is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
                .at(at())
                .help("save the file as UTF-8; a GBK/GB18030 file can be converted with `iconv -f GB18030 -t UTF-8`"),
        ])
    })?;
    load_str(path, text)
}

/// Parses policy `text`; `path` names it in errors.
pub fn load_str(path: &Path, text: String) -> Result<(Source, PolicyDef)> {
    // Editors on Windows start UTF-8 files with a byte-order mark.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    if let Some(d) = nul_byte(path, &text).or_else(|| tab_indentation(path, &text)) {
        return Err(Error::Policy(vec![d]));
    }
    let mut source = Source::new(path, text);
    if let Some(d) = check_structure(&source) {
        return Err(Error::Policy(vec![d]));
    }
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, &source.text, options) {
        Ok(root) => root,
        Err(e) => return Err(Error::Policy(vec![yaml_error(&source, e)])),
    };
    let def = read_policy(&mut source, &root);
    match def {
        Some(def) if source.diagnostics.is_empty() => Ok((source, def)),
        _ => Err(Error::Policy(std::mem::take(&mut source.diagnostics))),
    }
}

/// The YAML reader takes a NUL byte for the end of the text, so everything
/// after one would be silently ignored.
fn nul_byte(path: &Path, text: &str) -> Option<Diagnostic> {
    let at = text.find('\0')?;
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let column = text[line_start..at].chars().count() + 1;
    Some(
        Diagnostic::new("the policy contains a NUL byte")
            // Shown as `␀`: a terminal would not show the byte itself.
            .at_source(Location::new(path, line, column), &text.replace('\0', "\u{2400}"), 1)
            .help("a policy is text: remove the NUL byte (a YAML reader stops at one, and would ignore the rest of the file)"),
    )
}

/// One pass of YAML's event parser over the whole text, before the policy
/// is built: it must be a single document (the loader reads the first one
/// and would silently drop the rest, after a `---` or `...`), and nest at
/// most [`MAX_NESTING`] deep (the loader recurses). The parser itself does
/// not recurse. A syntax error found here is reported as the loader would.
fn check_structure(source: &Source) -> Option<Diagnostic> {
    use yaml_rust2::Event;
    let mut parser = yaml_rust2::parser::Parser::new_from_str(&source.text);
    let (mut depth, mut documents, mut end_line) = (0usize, 0usize, None);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(e) => e,
            // The scanner's own limit on flow nesting (`{`, `[`), which it may
            // reach first, looking ahead: the same limit, said the same way.
            Err(e) if e.info() == "recursion limit exceeded" => {
                let m = *e.marker();
                let at = Location::new(source.path.clone(), m.line(), m.col() + 1);
                return Some(too_deep(source, at));
            }
            Err(e) => {
                let m = *e.marker();
                let marker = marked_yaml::Marker::new(0, m.index(), m.line(), m.col() + 1);
                return Some(yaml_error(
                    source,
                    marked_yaml::LoadError::ScanError(marker, e),
                ));
            }
        };
        let at = Location::new(source.path.clone(), mark.line(), mark.col() + 1);
        match event {
            Event::StreamEnd => return None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    let ended = match end_line {
                        Some(line) => format!("the document ends with `...` on line {line}"),
                        None => "a `---` line starts a new one".to_owned(),
                    };
                    return Some(
                        Diagnostic::new(format!(
                            "a second YAML document starts here: a policy is one document, and {ended}"
                        ))
                        .at_source(at, &source.text, 1)
                        .help("remove the `---` or `...` line so that what follows is part of the policy, or delete what follows it: it would be ignored"),
                    );
                }
            }
            Event::DocumentEnd => {
                let line = source.text.lines().nth(mark.line().saturating_sub(1));
                if line.is_some_and(|l| l.starts_with("...")) {
                    end_line = Some(mark.line());
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(too_deep(source, key_start(source, at)));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

fn too_deep(source: &Source, at: Location) -> Diagnostic {
    Diagnostic::new(format!(
        "the policy nests mappings and lists more than {MAX_NESTING} deep here"
    ))
    .at_source(at, &source.text, 1)
    .help("flatten it: `all:` and `any:` take a list of any length, so an `all` inside an `all` can be one `all`, and `not: { not: X }` is `X`")
}

/// The parser places a block mapping at the `:` after its first key: the
/// key itself, where a reader looks.
fn key_start(source: &Source, mut at: Location) -> Location {
    let Some(line) = source.text.lines().nth(at.line.saturating_sub(1)) else {
        return at;
    };
    let chars: Vec<char> = line.chars().collect();
    let mut column = at.column.saturating_sub(1);
    if chars.get(column) == Some(&':') {
        while column > 0 && !matches!(chars[column - 1], ' ' | '{' | ',' | '[') {
            column -= 1;
        }
        at.column = column + 1;
    }
    at
}

/// YAML forbids tabs in indentation, and the parser's own message about it
/// points at the wrong line; say it plainly instead.
fn tab_indentation(path: &Path, text: &str) -> Option<Diagnostic> {
    text.lines().enumerate().find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start().len()];
        let column = indent.find('\t')?;
        Some(
            Diagnostic::new("this line is indented with a tab")
                .at_source(Location::new(path, i + 1, column + 1), text, 1)
                .help("YAML indentation must be spaces: replace the tab with spaces"),
        )
    })
}

fn yaml_error(source: &Source, e: marked_yaml::LoadError) -> Diagnostic {
    use marked_yaml::LoadError as L;
    let (marker, message, help) = match &e {
        L::ScanError(m, scan) => (
            Some(*m),
            format!("invalid YAML: {}", scan.info()),
            "check the indentation and that every `{`, `[` and quote is closed",
        ),
        L::TopLevelMustBeMapping(m) => (
            Some(*m),
            "a policy must be a YAML mapping".to_owned(),
            "start the file with `policy: NAME`",
        ),
        L::DuplicateKey(inner) => (
            inner.key.span().start().copied(),
            format!(
                "key `{}` appears twice in the same mapping",
                inner.key.as_str()
            ),
            "remove one of them; a second key would silently replace the first",
        ),
        L::UnexpectedAnchor(m) | L::UnexpectedTag(m) => (
            Some(*m),
            "YAML anchors, aliases and tags are not supported in policies".to_owned(),
            "write the value out in full",
        ),
        other => (
            None,
            format!("invalid YAML: {other}"),
            "fix the YAML syntax",
        ),
    };
    let mut d = Diagnostic::new(message).help(help);
    if let Some(m) = marker {
        d = d.at_source(
            Location::new(source.path.clone(), m.line(), m.column()),
            &source.text,
            1,
        );
    }
    d
}

fn read_policy(src: &mut Source, root: &Node) -> Option<PolicyDef> {
    let map = src.mapping(root, "a policy", "start the file with `policy: NAME`")?;
    src.check_keys(map, "a policy", TOP_KEYS);

    let id = required_text(src, map, root, "policy", "a policy", "policy: NAME");
    let version = optional_text(src, map, "version").unwrap_or_default();
    let description = optional_text(src, map, "description");
    let key = map
        .get_node("key")
        .and_then(|n| src.scalar(n, "`key`"))
        .cloned();

    let params = pairs(src, map, "params")
        .into_iter()
        .filter_map(|(name, value)| {
            let value = src.scalar(value, &format!("parameter `{}`", name.as_str()))?;
            Some(ParamDef {
                name: name.clone(),
                value: value.clone(),
            })
        })
        .collect();

    let fields = pairs(src, map, "fields")
        .into_iter()
        .filter_map(|(name, ty)| {
            let ty_node = src.scalar(ty, &format!("the type of field `{}`", name.as_str()))?;
            match FieldType::parse(ty_node.as_str()) {
                Some(ty) => Some(FieldDef {
                    name: name.clone(),
                    ty,
                }),
                None => {
                    let help = suggest(ty_node.as_str(), "types", &FieldType::NAMES);
                    src.error(
                        ty,
                        format!(
                            "unknown type `{}` for field `{}`",
                            ty_node.as_str(),
                            name.as_str()
                        ),
                        help,
                    );
                    None
                }
            }
        })
        .collect();

    let derive = pairs(src, map, "derive")
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let rules = match map.get_node("rules") {
        Some(node) => sequence(src, node, "`rules`")
            .iter()
            .filter_map(|r| read_rule(src, r))
            .collect(),
        None => Vec::new(),
    };
    check_unique_rule_ids(src, &rules);
    check_unique_reasons(src, &rules);

    let limit = match map.get_node("limit") {
        Some(node) => sequence(src, node, "`limit`")
            .iter()
            .filter_map(|n| {
                let m =
                    src.mapping(n, "a limit band", "write `- when: {...}` and `amount: 800`")?;
                src.check_keys(m, "a limit band", LIMIT_KEYS);
                let amount = required(src, m, n, "amount", "a limit band", "amount: 800")?;
                Some(LimitDef {
                    when: m.get_node("when").cloned(),
                    amount: amount.clone(),
                })
            })
            .collect(),
        None => Vec::new(),
    };

    let repayment = map
        .get_node("repayment")
        .and_then(|n| read_repayment(src, n));
    let observed = map.get_node("observed").and_then(|n| {
        let m = src.mapping(
            n,
            "`observed`",
            "write `observed: { bad: { defaulted: true } }`",
        )?;
        src.check_keys(m, "`observed`", &["bad", "outcome"]);
        let outcome = m
            .get_node("outcome")
            .and_then(|o| src.scalar(o, "`observed.outcome`"))
            .cloned();
        let bad = required(src, m, n, "bad", "`observed`", "bad: { defaulted: true }").cloned();
        Some((bad, outcome))
    });
    let (observed_bad, observed_outcome) = match observed {
        Some((bad, outcome)) => (bad, outcome),
        None => (None, None),
    };
    let script = map
        .get_node("script")
        .and_then(|n| src.scalar(n, "`script`"))
        .cloned();

    if script.is_none() && map.get_node("rules").is_none() {
        src.error(
            root,
            "a policy needs `rules` (or a `script`)",
            "add `rules:` with at least one rule, e.g. `- { id: min_score, reason: SCORE_TOO_LOW, when: { zhima_score: { gte: 600 } } }`",
        );
    }

    Some(PolicyDef {
        id: id?,
        version,
        description,
        key,
        params,
        fields,
        derive,
        rules,
        limit,
        repayment,
        observed_bad,
        observed_outcome,
        script,
    })
}

fn read_rule(src: &mut Source, node: &Node) -> Option<RuleDef> {
    let m = src.mapping(
        node,
        "a rule",
        "write a rule as `- id: NAME` with `reason:` and `when:`",
    )?;
    src.check_keys(m, "a rule", RULE_KEYS);
    let id = required(src, m, node, "id", "a rule", "id: RULE_ID")
        .and_then(|n| src.scalar(n, "a rule `id`"))
        .cloned();
    let reason = required(src, m, node, "reason", "a rule", "reason: REASON_CODE")
        .and_then(|n| src.scalar(n, "`reason`"))
        .cloned();
    if let Some(r) = &reason
        && !is_reason_code(r.as_str())
    {
        let help = "write it in UPPER_SNAKE_CASE, such as `SCORE_TOO_LOW` (capitals, digits and `_`, starting with a capital): one code per rule, since the `reasons` column joins codes with `;`";
        // An empty value has no place of its own (YAML puts it at the next
        // token): point at its key.
        match m.keys().find(|k| k.as_str() == "reason") {
            Some(key) if r.as_str().is_empty() => {
                src.key_error(key, "a rule's `reason` is empty", help)
            }
            _ => src.key_error(
                r,
                format!(
                    "reason `{}` is not a reason code",
                    r.as_str().escape_debug()
                ),
                help,
            ),
        }
    }
    let description = optional_text(src, m, "description");
    let action = match m.get_node("action") {
        None => Action::Decline,
        Some(n) => match src.scalar(n, "`action`").map(|s| s.as_str()) {
            Some("decline") => Action::Decline,
            Some("review") => Action::Review,
            Some(other) => {
                let help = suggest(other, "actions", &["decline", "review"]);
                src.error(n, format!("unknown action `{other}`"), help);
                Action::Decline
            }
            None => Action::Decline,
        },
    };
    let test = match (m.get_node("when"), m.get_node("expr")) {
        (Some(when), None) => Some(RuleTest::When(when.clone())),
        (None, Some(expr)) => src
            .scalar(expr, "`expr`")
            .map(|e| RuleTest::Expr(e.clone())),
        (Some(_), Some(expr)) => {
            src.error(
                expr,
                "a rule has both `when` and `expr`",
                "keep one: `when` for a declarative condition, `expr` for a Rhai expression",
            );
            None
        }
        (None, None) => {
            src.error(
                node,
                "a rule needs `when` or `expr`",
                "add a condition, e.g. `when: { zhima_score: { gte: 600 } }`",
            );
            None
        }
    };
    Some(RuleDef {
        id: id?,
        reason: reason?,
        description,
        action,
        test: test?,
    })
}

fn check_unique_rule_ids(src: &mut Source, rules: &[RuleDef]) {
    for (i, rule) in rules.iter().enumerate() {
        if rules[..i].iter().any(|r| r.id.as_str() == rule.id.as_str()) {
            src.key_error(
                &rule.id,
                format!("rule id `{}` is used twice", rule.id.as_str()),
                "give every rule its own id: reports and tests name rules by id",
            );
        }
    }
}

/// Two rules with one reason code would make the `reasons` column and the
/// per-reason counts ambiguous.
fn check_unique_reasons(src: &mut Source, rules: &[RuleDef]) {
    for (i, rule) in rules.iter().enumerate() {
        let code = rule.reason.as_str();
        if let Some(first) = rules[..i].iter().find(|r| r.reason.as_str() == code) {
            src.key_error(
                &rule.reason,
                format!(
                    "reason `{code}` is used by rule `{}` and rule `{}`",
                    first.id.as_str(),
                    rule.id.as_str()
                ),
                "give every rule its own reason code: the `reasons` column and the report name a failing rule by its code",
            );
        }
    }
}

fn read_repayment(src: &mut Source, node: &Node) -> Option<RepaymentDef> {
    let m = src.mapping(node, "`repayment`", "see the policy format in the README")?;
    src.check_keys(m, "`repayment`", REPAYMENT_KEYS);
    let scalar = |src: &mut Source, key: &str| {
        m.get_node(key)
            .and_then(|n| src.scalar(n, &format!("`{key}`")))
            .cloned()
    };
    let exposure = scalar(src, "exposure");
    let loss_given_default = scalar(src, "loss_given_default");
    let merchant_fee_rate = scalar(src, "merchant_fee_rate");
    let late_fee = scalar(src, "late_fee");
    let bureau_after_days = scalar(src, "bureau_after_days");
    let correlation = scalar(src, "correlation");
    let late_days = m.get_node("late_days").and_then(|n| {
        let lm = src.mapping(
            n,
            "`late_days`",
            "write `late_days: { \"1-30\": 0.7, \"31-60\": 0.2, \"61-90\": 0.1 }`",
        )?;
        Some((
            n.clone(),
            lm.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
    });
    let outcomes = match m.get_node("outcomes") {
        Some(n) => sequence(src, n, "`outcomes`")
            .iter()
            .filter_map(|band| {
                let bm = src.mapping(
                    band,
                    "an outcome band",
                    "write `- when: {...}` and `p: {...}`",
                )?;
                src.check_keys(bm, "an outcome band", OUTCOME_KEYS);
                let p_node = required(
                    src,
                    bm,
                    band,
                    "p",
                    "an outcome band",
                    "p: { default: 0.02 }",
                )?;
                let pm = src.mapping(
                    p_node,
                    "`p`",
                    "write `p: { returned: 0.05, late: 0.06, default: 0.025 }`",
                )?;
                src.check_keys(pm, "`p`", OUTCOME_NAMES);
                Some(OutcomeDef {
                    when: bm.get_node("when").cloned(),
                    p: pm.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    Some(RepaymentDef {
        exposure,
        outcomes,
        loss_given_default,
        merchant_fee_rate,
        late_fee,
        late_days,
        bureau_after_days,
        correlation,
    })
}

fn required<'n>(
    src: &mut Source,
    map: &'n MarkedMappingNode,
    at: &Node,
    key: &str,
    what: &str,
    example: &str,
) -> Option<&'n Node> {
    let node = map.get_node(key);
    if node.is_none() {
        src.error(
            at,
            format!("{what} is missing `{key}`"),
            format!("add `{example}`"),
        );
    }
    node
}

fn required_text(
    src: &mut Source,
    map: &MarkedMappingNode,
    at: &Node,
    key: &str,
    what: &str,
    example: &str,
) -> Option<String> {
    let node = required(src, map, at, key, what, example)?;
    src.scalar(node, &format!("`{key}`"))
        .map(|s| s.as_str().to_owned())
}

fn optional_text(src: &mut Source, map: &MarkedMappingNode, key: &str) -> Option<String> {
    let node = map.get_node(key)?;
    src.scalar(node, &format!("`{key}`"))
        .map(|s| s.as_str().to_owned())
}

/// The entries of the mapping under `key`, in file order; empty when absent.
fn pairs<'n>(
    src: &mut Source,
    map: &'n MarkedMappingNode,
    key: &str,
) -> Vec<(&'n MarkedScalarNode, &'n Node)> {
    match map.get_node(key) {
        None => Vec::new(),
        Some(node) => match src.mapping(
            node,
            &format!("`{key}`"),
            &format!("write `{key}:` followed by indented `name: value` lines"),
        ) {
            Some(m) => m.iter().collect(),
            None => Vec::new(),
        },
    }
}

fn sequence<'n>(src: &mut Source, node: &'n Node, what: &str) -> &'n [Node] {
    match node {
        Node::Sequence(s) => s.as_slice(),
        other => {
            src.error(
                other,
                format!("{what} must be a list, not a {}", kind(other)),
                "write each entry on its own line starting with `- `",
            );
            &[]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<(Source, PolicyDef)> {
        load_str(Path::new("p.yaml"), text.to_owned())
    }

    fn errors(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("policy loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn loads_a_minimal_policy() {
        let (_, def) = load(
            "policy: p\nversion: 3\nfields: { s: int }\nrules:\n  - id: r\n    reason: R\n    when: { s: 1 }\n",
        )
        .unwrap();
        assert_eq!(def.id, "p");
        assert_eq!(def.version, "3");
        assert_eq!(def.fields[0].ty, FieldType::Int);
        assert_eq!(def.rules[0].action, Action::Decline);
    }

    #[test]
    fn unknown_top_level_key_is_located_with_suggestion() {
        let e = errors("policy: p\nrulez: []\n");
        assert!(e.contains("unknown key `rulez` in a policy"), "{e}");
        assert!(e.contains("p.yaml:2:1"), "{e}");
        assert!(e.contains("did you mean `rules`?"), "{e}");
    }

    #[test]
    fn rule_problems_are_all_reported() {
        let e = errors(
            "policy: p\nrules:\n  - id: a\n    when: { x: 1 }\n  - id: b\n    reason: B\n    action: reveiw\n    when: { x: 1 }\n",
        );
        assert!(e.contains("a rule is missing `reason`"), "{e}");
        assert!(e.contains("unknown action `reveiw`"), "{e}");
        assert!(e.contains("did you mean `review`?"), "{e}");
        assert!(e.contains("p.yaml:7:13"), "{e}");
    }

    #[test]
    fn unknown_type_and_duplicate_key() {
        let e = errors("policy: p\nfields: { s: integer }\nrules: []\n");
        assert!(e.contains("unknown type `integer` for field `s`"), "{e}");
        let e = errors("policy: p\npolicy: q\nrules: []\n");
        assert!(e.contains("key `policy` appears twice"), "{e}");
        assert!(e.contains("p.yaml:2:1"), "{e}");
    }

    #[test]
    fn broken_yaml_names_the_place() {
        let e = errors("policy: p\nrules: [\n");
        assert!(e.starts_with("error: invalid YAML"), "{e}");
        assert!(e.contains("p.yaml:"), "{e}");
    }
}
