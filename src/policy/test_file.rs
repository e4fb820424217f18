//! `NAME.test.yaml`: a policy's regression tests (SPEC §5) — cases (one
//! input row and the decision expected) and dataset expectations (any
//! metric `simulate` reports, against a value or a range). Read with
//! `marked_yaml`, so a broken test file is an error at its line and column.

use super::source::Source;
use crate::error::{Error, Location, Result};
use marked_yaml::Node;
use marked_yaml::types::MarkedMappingNode;
use std::path::{Path, PathBuf};

pub struct TestFile {
    pub path: PathBuf,
    /// The policy, resolved relative to the test file.
    pub policy: PathBuf,
    /// `params`: overrides for every case and dataset, before `--set`.
    pub params: Vec<(String, String)>,
    /// `by`: segmentations for the datasets' expectations.
    pub by: Vec<String>,
    pub cases: Vec<Case>,
    pub datasets: Vec<DatasetTest>,
}

pub struct Case {
    pub name: String,
    pub at: Location,
    /// Field values as written (`None`: null, a missing value).
    pub input: Vec<(String, Option<String>)>,
    pub outcome: Option<String>,
    pub reasons: Option<Vec<String>>,
    pub reasons_include: Vec<String>,
    pub limit: Option<String>,
}

pub struct DatasetTest {
    /// The dataset, resolved relative to the test file.
    pub data: PathBuf,
    pub at: Location,
    pub expect: Vec<Expectation>,
    /// `snapshot: FILE`, resolved relative to the test file.
    pub snapshot: Option<PathBuf>,
    /// `tolerance`: per headline metric, how far it may move from the
    /// snapshot; `flipped`, the share of rows whose outcome may change.
    pub tolerance: Vec<(String, f64)>,
}

pub struct Expectation {
    /// A metric path: `approval_rate`, `observed.bad_rate`,
    /// `segments.city_tier[1].approval_rate`.
    pub metric: String,
    pub check: Check,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A plain value, or `eq:`: the metric equals it (numbers as numbers).
    Eq(String),
    Between(String, String),
    Lte(String),
    Gte(String),
}

impl Check {
    pub fn describe(&self) -> String {
        match self {
            Check::Eq(v) => format!("= {v}"),
            Check::Between(lo, hi) => format!("between {lo} and {hi}"),
            Check::Lte(v) => format!("<= {v}"),
            Check::Gte(v) => format!(">= {v}"),
        }
    }
}

/// Whether `path` names a test file (`NAME.test.yaml`).
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml"))
}

/// Reads the test file at `path`; a broken one is an error (exit 2) at its
/// line and column.
pub fn load(path: &Path) -> Result<TestFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    let mut src = Source::new(path, text);
    let root = match marked_yaml::parse_yaml(0, &src.text) {
        Ok(root) => root,
        Err(e) => {
            return Err(Error::Usage(
                crate::error::Diagnostic::new(format!(
                    "`{}` is not valid YAML: {e}",
                    path.display()
                ))
                .at(Location::new(path, 1, 1))
                .help("a test file is YAML: `policy:`, then `cases:` and `datasets:`"),
            ));
        }
    };
    let file = read(&mut src, &root, path);
    match file {
        Some(f) if src.diagnostics.is_empty() => Ok(f),
        _ => Err(Error::Usage(
            src.diagnostics
                .into_iter()
                .next()
                .unwrap_or_else(|| crate::error::Diagnostic::new("the test file is broken")),
        )),
    }
}

fn read(src: &mut Source, root: &Node, path: &Path) -> Option<TestFile> {
    let map = src.mapping(root, "a test file", "start it with `policy: NAME.yaml`")?;
    src.check_keys(
        map,
        "a test file",
        &["policy", "params", "by", "cases", "datasets"],
    );
    let dir = path.parent().unwrap_or(Path::new("."));
    let Some(policy) = map
        .get_node("policy")
        .and_then(|n| src.scalar(n, "`policy`"))
    else {
        src.error(
            root,
            "the test file names no `policy`",
            "add `policy: NAME.yaml` (relative to the test file)",
        );
        return None;
    };
    let policy = dir.join(policy.as_str());
    let mut params = Vec::new();
    if let Some(node) = map.get_node("params")
        && let Some(m) = src.mapping(node, "`params`", "write `params: { min_score: 620 }`")
    {
        for (k, v) in m.iter() {
            if let Some(v) = src.scalar(v, "a param") {
                params.push((k.as_str().to_owned(), v.as_str().to_owned()));
            }
        }
    }
    let by = match map.get_node("by") {
        None => Vec::new(),
        Some(Node::Sequence(s)) => s
            .iter()
            .filter_map(|n| src.scalar(n, "a `by` entry").map(|s| s.as_str().to_owned()))
            .collect(),
        Some(n) => vec![src.scalar(n, "`by`")?.as_str().to_owned()],
    };
    let cases = match map.get_node("cases") {
        None => Vec::new(),
        Some(Node::Sequence(s)) => s.iter().filter_map(|n| case(src, n)).collect(),
        Some(n) => {
            src.error(
                n,
                "`cases` must be a list",
                "write `cases:` then `- name: ...` entries",
            );
            Vec::new()
        }
    };
    let datasets = match map.get_node("datasets") {
        None => Vec::new(),
        Some(Node::Sequence(s)) => s.iter().filter_map(|n| dataset(src, n, dir)).collect(),
        Some(n) => {
            src.error(
                n,
                "`datasets` must be a list",
                "write `datasets:` then `- data: FILE` entries",
            );
            Vec::new()
        }
    };
    Some(TestFile {
        path: path.to_owned(),
        policy,
        params,
        by,
        cases,
        datasets,
    })
}

fn strings(src: &mut Source, node: &Node, what: &str) -> Vec<String> {
    match node {
        Node::Sequence(s) => s
            .iter()
            .filter_map(|n| src.scalar(n, what).map(|s| s.as_str().to_owned()))
            .collect(),
        n => src
            .scalar(n, what)
            .map(|s| vec![s.as_str().to_owned()])
            .unwrap_or_default(),
    }
}

fn case(src: &mut Source, node: &Node) -> Option<Case> {
    let map = src.mapping(
        node,
        "a case",
        "write `- name: ...`, `input: {...}`, `expect: {...}`",
    )?;
    src.check_keys(map, "a case", &["name", "input", "expect"]);
    let at = src.location(node.span());
    let name = match map.get_node("name") {
        Some(n) => src.scalar(n, "a case's `name`")?.as_str().to_owned(),
        None => format!("case at line {}", at.line),
    };
    let mut input = Vec::new();
    if let Some(n) = map.get_node("input") {
        let m = src.mapping(
            n,
            "a case's `input`",
            "write the row's fields, e.g. `input: { zhima_score: 620 }`",
        )?;
        for (k, v) in m.iter() {
            let value = match v {
                Node::Scalar(s) if s.as_str() == "null" || s.as_str() == "~" => None,
                other => Some(src.scalar(other, "an input value")?.as_str().to_owned()),
            };
            input.push((k.as_str().to_owned(), value));
        }
    }
    let Some(expect) = map.get_node("expect") else {
        src.error(
            node,
            format!("case `{name}` expects nothing"),
            "add `expect: { outcome: approve }` (or `reasons`, `reasons_include`, `limit`)",
        );
        return None;
    };
    let e = src.mapping(
        expect,
        "a case's `expect`",
        "write `expect: { outcome: decline, reasons: [SCORE_TOO_LOW] }`",
    )?;
    src.check_keys(
        e,
        "a case's `expect`",
        &["outcome", "reasons", "reasons_include", "limit"],
    );
    let scalar = |src: &mut Source, m: &MarkedMappingNode, key: &str| {
        m.get_node(key)
            .and_then(|n| src.scalar(n, key).map(|s| s.as_str().to_owned()))
    };
    let outcome = scalar(src, e, "outcome");
    if let Some(o) = &outcome
        && !["approve", "review", "decline"].contains(&o.as_str())
    {
        let n = e.get_node("outcome").expect("read above");
        src.error(
            n,
            format!("`outcome: {o}` is not an outcome"),
            "write `approve`, `review` or `decline`",
        );
    }
    Some(Case {
        name,
        at,
        input,
        outcome,
        reasons: e.get_node("reasons").map(|n| strings(src, n, "a reason")),
        reasons_include: e
            .get_node("reasons_include")
            .map(|n| strings(src, n, "a reason"))
            .unwrap_or_default(),
        limit: scalar(src, e, "limit"),
    })
}

fn dataset(src: &mut Source, node: &Node, dir: &Path) -> Option<DatasetTest> {
    let map = src.mapping(
        node,
        "a dataset entry",
        "write `- data: FILE` and `expect: { approval_rate: ... }`",
    )?;
    src.check_keys(
        map,
        "a dataset entry",
        &["data", "expect", "snapshot", "tolerance"],
    );
    let at = src.location(node.span());
    let data = match map.get_node("data") {
        Some(n) => dir.join(src.scalar(n, "`data`")?.as_str()),
        None => {
            src.error(
                node,
                "a dataset entry names no `data`",
                "add `data: FILE` (relative to the test file)",
            );
            return None;
        }
    };
    let mut expect = Vec::new();
    if let Some(n) = map.get_node("expect") {
        let m = src.mapping(
            n,
            "a dataset's `expect`",
            "write metrics, e.g. `expect: { approved: 2213 }`",
        )?;
        for (k, v) in m.iter() {
            let at = src.location(k.span());
            let check = match v {
                Node::Scalar(s) => Check::Eq(s.as_str().to_owned()),
                Node::Mapping(ops) => {
                    src.check_keys(ops, "an expectation", &["eq", "between", "lte", "gte"]);
                    let one = |src: &mut Source, key: &str| {
                        ops.get_node(key)
                            .and_then(|n| src.scalar(n, key).map(|s| s.as_str().to_owned()))
                    };
                    if let Some(n) = ops.get_node("between") {
                        let pair = strings(src, n, "a bound");
                        if pair.len() != 2 {
                            src.error(
                                n,
                                "`between` takes two bounds",
                                "write `between: [0.20, 0.25]`",
                            );
                            continue;
                        }
                        Check::Between(pair[0].clone(), pair[1].clone())
                    } else if let Some(v) = one(src, "eq") {
                        Check::Eq(v)
                    } else if let Some(v) = one(src, "lte") {
                        Check::Lte(v)
                    } else if let Some(v) = one(src, "gte") {
                        Check::Gte(v)
                    } else {
                        src.error(
                            v,
                            "an expectation needs `eq`, `between`, `lte` or `gte`",
                            "e.g. `approval_rate: { between: [0.20, 0.25] }`",
                        );
                        continue;
                    }
                }
                other => {
                    src.error(
                        other,
                        "an expectation is a value or `{ eq | between | lte | gte: ... }`",
                        "e.g. `approved: 2213`",
                    );
                    continue;
                }
            };
            expect.push(Expectation {
                metric: k.as_str().to_owned(),
                check,
                at,
            });
        }
    }
    let snapshot = match map.get_node("snapshot") {
        Some(n) => Some(dir.join(src.scalar(n, "`snapshot`")?.as_str())),
        None => None,
    };
    let mut tolerance = Vec::new();
    if let Some(n) = map.get_node("tolerance") {
        let m = src.mapping(
            n,
            "`tolerance`",
            "write `tolerance: { approval_rate: 0.005, flipped: 0.01 }`",
        )?;
        for (k, v) in m.iter() {
            let Some(v) = src.scalar(v, "a tolerance") else {
                continue;
            };
            match v.as_str().parse::<f64>() {
                Ok(x) if x >= 0.0 => tolerance.push((k.as_str().to_owned(), x)),
                _ => src.error(
                    &Node::Scalar(v.clone()),
                    format!("the tolerance `{}` of `{}` is not a number of 0 or more", v.as_str(), k.as_str()),
                    "write e.g. `approval_rate: 0.005` (an absolute difference) or `flipped: 0.01` (a share of rows)",
                ),
            }
        }
    }
    Some(DatasetTest {
        data,
        at,
        expect,
        snapshot,
        tolerance,
    })
}
