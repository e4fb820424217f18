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
];
const OUTCOME_KEYS: &[&str] = &["when", "p"];
/// Outcomes a repayment band may give a probability for (`on_time` is the rest).
pub const OUTCOME_NAMES: &[&str] = &["returned", "early", "late", "default"];

/// Reads and parses the policy at `path`.
pub fn load_file(path: &Path) -> Result<(Source, PolicyDef)> {
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let at = || Location::new(path, 1, 1);
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
    if let Some(d) = tab_indentation(path, &text) {
        return Err(Error::Policy(vec![d]));
    }
    let mut source = Source::new(path, text);
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
    let observed_bad = map.get_node("observed").and_then(|n| {
        let m = src.mapping(
            n,
            "`observed`",
            "write `observed: { bad: { defaulted: true } }`",
        )?;
        src.check_keys(m, "`observed`", &["bad"]);
        required(src, m, n, "bad", "`observed`", "bad: { defaulted: true }").cloned()
    });
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
    let reason = required_text(src, m, node, "reason", "a rule", "reason: REASON_CODE");
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
