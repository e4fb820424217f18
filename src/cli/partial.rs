//! Partial results: `simulate --emit partial` (or `--partial FILE`) writes
//! the exact mergeable state of a run over one part of the data, with a
//! header saying what made it; `polsim merge` checks that the headers agree
//! and prints the report of the whole.
//!
//! The format (JSON, versioned by `format` and `version`):
//!
//! - `polsim`: the version that wrote it;
//! - `command`: `simulate`;
//! - `policy`: the policy file's name, SHA-256 and text, and its script's
//!   (for a `.rhai` policy, the fields as its data typed them), so `merge`
//!   can rebuild the report without the files;
//! - `set`: the `--set` overrides as given; `params`: the values in effect;
//! - `by`: the `--by` specs; `trials`, `seed`: the Monte Carlo's;
//! - `data`: the part(s) it covers: name, SHA-256 and rows;
//! - `sha256`: the SHA-256 of the partial as written with this field
//!   empty, so a partial changed after it was written (a flipped digit,
//!   an edit to its state or its header) is refused rather than merged
//!   into a wrong report;
//! - `state`: the accumulators' state — counts and exact decimal sums, per
//!   segment, one total per Monte Carlo trial.

use crate::dataset::batch::SkippedRows;
use crate::dataset::schema::ColumnSpec;
use crate::dataset::value::FieldType;
use crate::engine::pass::Accumulator;
use crate::error::{Diagnostic, Error, Result};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_onto;
use crate::policy::rhai_file::compile_script_typed;
pub use crate::report::simulation::DataPart;
use crate::simulate::Simulation;
use crate::simulate::compare::Comparison;
use crate::simulate::sweep::{Thresholds, Variants};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

pub const FORMAT: &str = "polsim-partial";
pub const VERSION: u32 = 1;

/// One partial result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    pub format: String,
    pub version: u32,
    pub polsim: String,
    /// `simulate`, `compare` or `sweep`.
    pub command: String,
    /// The policy (`compare`: the champion, then the challenger).
    pub policies: Vec<PolicySource>,
    /// `--set`, as given.
    pub set: Vec<(String, String)>,
    /// `compare --challenger-set`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub challenger_set: Vec<(String, String)>,
    /// `sweep --param`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param: Vec<String>,
    /// Per policy, the parameters in effect.
    pub params: Vec<BTreeMap<String, String>>,
    pub by: Vec<String>,
    pub trials: Option<u32>,
    pub seed: Option<u64>,
    pub data: Vec<DataPart>,
    /// The SHA-256 of the partial's JSON with this field empty, set by
    /// [`Partial::write`].
    pub sha256: String,
    pub state: State,
}

/// The accumulators' state of a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "of")]
pub enum State {
    Simulation(Box<Simulation>),
    Comparison(Box<Comparison>),
    Variants(Variants),
    Thresholds(Box<Thresholds>),
}

impl State {
    /// The rows the parts skipped as malformed (`--skip-bad-rows`).
    pub fn skipped(&self) -> &SkippedRows {
        use crate::simulate::sweep::Sweep as _;
        match self {
            State::Simulation(s) => &s.skipped,
            State::Comparison(c) => &c.champion.skipped,
            State::Variants(v) => v.skipped(),
            State::Thresholds(t) => t.skipped(),
        }
    }

    /// Folds in another part's state of the same kind.
    pub fn merge(&mut self, other: &State) -> Result<()> {
        match (self, other) {
            (State::Simulation(a), State::Simulation(b)) => a.merge(b),
            (State::Comparison(a), State::Comparison(b)) => a.merge(b),
            (State::Variants(a), State::Variants(b)) => a.merge(b),
            (State::Thresholds(a), State::Thresholds(b)) => a.merge(b),
            _ => Err(crate::engine::pass::plan_mismatch("kinds of state")),
        }
    }
}

/// The policy a partial was made with, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySource {
    pub file: String,
    pub sha256: String,
    pub text: String,
    /// Its script: its path relative to the policy, and its text.
    pub script: Option<(String, String)>,
    /// For a `.rhai` policy: its fields and their types, as its part of
    /// the data typed them.
    pub fields: Option<Vec<(String, String)>>,
}

impl PolicySource {
    /// The policy as compiled from `path`, read again (and checked against
    /// the hash the run used).
    pub fn of(policy: &CompiledPolicy) -> Result<PolicySource> {
        let bytes = std::fs::read(&policy.path).map_err(|e| Error::read(&policy.path, e))?;
        if crate::dataset::fingerprint::sha256_hex(&bytes) != policy.sha256 {
            return Err(Error::usage(
                format!("`{}` changed during the run", policy.path.display()),
                "run again once the policy file stays put",
            ));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let dir = policy.path.parent().unwrap_or(Path::new(""));
        let script = policy
            .script
            .as_ref()
            .filter(|_| !is_rhai(&policy.path))
            .map(|s| {
                let rel = s.site.file.strip_prefix(dir).unwrap_or(&s.site.file);
                (rel.to_string_lossy().into_owned(), s.site.text.to_string())
            });
        let fields = is_rhai(&policy.path).then(|| {
            let declared = policy.declared.iter();
            declared
                .map(|c| (c.name.clone(), c.ty.to_string()))
                .collect()
        });
        Ok(PolicySource {
            file: file_name(&policy.path),
            sha256: policy.sha256.clone(),
            text,
            script,
            fields,
        })
    }

    /// The policy, compiled from the text it carries (written into `dir`)
    /// onto the projection `base`; its path.
    pub fn compile(
        &self,
        dir: &Path,
        set: &[(String, String)],
        base: &[ColumnSpec],
    ) -> Result<(CompiledPolicy, PathBuf)> {
        // Every file is written inside `dir`, whatever the partial says: a
        // policy is a plain file name, a script a relative path that may
        // climb (`../scripts/x.rhai`) only as far as the policy is put down.
        let file = Path::new(&self.file);
        if !matches!(
            file.components().collect::<Vec<_>>()[..],
            [Component::Normal(_)]
        ) {
            return Err(unsafe_path(&self.file));
        }
        let script = match &self.script {
            Some((rel, text)) => Some((script_place(rel)?, text)),
            None => None,
        };
        let ups = script.as_ref().map_or(0, |((ups, _), _)| *ups);
        let policy_dir = (0..ups).fold(dir.to_owned(), |d, _| d.join("up"));
        std::fs::create_dir_all(&policy_dir).map_err(|e| Error::write(&policy_dir, e))?;
        let policy = policy_dir.join(file);
        std::fs::write(&policy, &self.text).map_err(|e| Error::write(&policy, e))?;
        if let Some(((_, rest), text)) = script {
            let path = dir.join(rest);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
            }
            std::fs::write(&path, text).map_err(|e| Error::write(&path, e))?;
        }
        let compiled = match &self.fields {
            None => compile_file_onto(&policy, set, None, base)?,
            Some(fields) => {
                let typed = fields
                    .iter()
                    .map(|(n, t)| Ok((n.clone(), FieldType::parse(t).ok_or_else(|| damaged(t))?)))
                    .collect::<Result<Vec<_>>>()?;
                compile_script_typed(&policy, self.text.as_bytes(), &typed, set, base)?
            }
        };
        Ok((compiled, policy))
    }
}

/// Where a script's path, relative to its policy, puts it: how many
/// directories it climbs first, and the rest (names only).
fn script_place(rel: &str) -> Result<(usize, PathBuf)> {
    let (mut ups, mut rest) = (0, PathBuf::new());
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if rest.as_os_str().is_empty() => ups += 1,
            Component::Normal(name) => rest.push(name),
            _ => return Err(unsafe_path(rel)),
        }
    }
    if rest.as_os_str().is_empty() {
        return Err(unsafe_path(rel));
    }
    Ok((ups, rest))
}

fn unsafe_path(path: &str) -> Error {
    Error::usage(
        format!(
            "a partial result names the file `{}`, which merge cannot write inside its own directory",
            crate::error::printable(path)
        ),
        "a policy is carried by its file name and a script by its path relative to the policy (no absolute path, no `..` after a name): make the partial again with `polsim … --emit partial`",
    )
}

/// Whether two lists of `--by` specs segment alike: the same fields and
/// edges, written with other spaces (`600, 700` and `600,700`).
fn same_segments(a: &[String], b: &[String]) -> bool {
    let specs = |v: &[String]| {
        v.iter()
            .map(|text| {
                crate::engine::segments::SegmentSpec::parse(text)
                    .ok()
                    .map(|s| (s.field.trim().to_owned(), s.edge_text))
            })
            .collect::<Option<Vec<_>>>()
    };
    matches!((specs(a), specs(b)), (Some(x), Some(y)) if x == y)
}

fn is_rhai(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "rhai")
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || "policy.yaml".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn damaged(what: &str) -> Error {
    Error::usage(
        format!("a partial result names `{what}`, which is not a field type"),
        "make the partial again with `polsim simulate … --emit partial`",
    )
}

impl Partial {
    /// The SHA-256 of the partial's JSON with `sha256` empty (as it is
    /// left while the sum is taken).
    fn checksum(&mut self) -> serde_json::Result<String> {
        let kept = std::mem::take(&mut self.sha256);
        let text = serde_json::to_string(self);
        self.sha256 = kept;
        Ok(crate::dataset::fingerprint::sha256_hex(text?.as_bytes()))
    }

    /// The partial of a `command` run of `policies` (with `--set` `set`)
    /// over the data `part`; the other options are empty, to be set by
    /// the commands that have them.
    pub fn new(
        command: &str,
        policies: &[CompiledPolicy],
        set: &[(String, String)],
        part: DataPart,
        state: State,
    ) -> Result<Partial> {
        // Without its data's hash a partial cannot say which data it
        // covers, nor be told from another of the same data.
        if part.sha256.is_none() {
            return Err(Error::usage(
                format!(
                    "`{}` changed while it was read, so no hash says which data this partial covers",
                    crate::error::printable(&part.name)
                ),
                "run again once the file stays put (a partial is not written without its data's SHA-256)",
            ));
        }
        Ok(Partial {
            format: FORMAT.to_owned(),
            version: VERSION,
            polsim: env!("CARGO_PKG_VERSION").to_owned(),
            command: command.to_owned(),
            policies: policies
                .iter()
                .map(PolicySource::of)
                .collect::<Result<_>>()?,
            set: set.to_vec(),
            challenger_set: Vec::new(),
            param: Vec::new(),
            params: policies
                .iter()
                .map(|p| p.params.iter().cloned().collect())
                .collect(),
            by: Vec::new(),
            trials: None,
            seed: None,
            data: vec![part],
            sha256: String::new(),
            state,
        })
    }

    /// Writes the partial as JSON to `path`, or to standard output.
    pub fn write(&self, path: Option<&Path>) -> Result<()> {
        let unwritable = |e: serde_json::Error| {
            Error::usage(
                format!("cannot write the partial result: {e}"),
                "report this as a bug",
            )
        };
        let mut signed = self.clone();
        signed.sha256 = signed.checksum().map_err(unwritable)?;
        let text = serde_json::to_string(&signed).map_err(unwritable)?;
        match path {
            Some(path) => super::write_atomically(path, |out| {
                out.write_all(text.as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|e| Error::write(path, e))
            }),
            None => {
                use std::io::Write as _;
                let mut out = super::stdout();
                out.write_all(text.as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .and_then(|_| out.flush())
                    .map_err(super::stdout_error)
            }
        }
    }

    /// Reads and checks a partial file: its format and version.
    pub fn read(path: &Path) -> Result<Partial> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        let not_partial = || {
            Error::usage(
                format!("`{}` is not a polsim partial result", path.display()),
                "make partials with `polsim simulate`, `compare` or `sweep` and `--emit partial` (or `--partial FILE`)",
            )
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            let head: String = text.split_whitespace().collect::<String>();
            if e.is_eof() && head.starts_with(&format!("{{\"format\":\"{FORMAT}\"")) {
                Error::usage(
                    format!(
                        "`{}` is a partial result cut short: it ends before its JSON does",
                        path.display()
                    ),
                    "it was not written completely (a task that died, a full disk, a copy cut short): make it again",
                )
            } else {
                not_partial()
            }
        })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(not_partial());
        }
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(VERSION)) {
            return Err(Error::usage(
                format!(
                    "`{}` is a partial of format version {}; this polsim reads version {VERSION}",
                    path.display(),
                    version.map_or_else(|| "?".to_owned(), |v| v.to_string())
                ),
                "make every partial with the same polsim version as the one that merges them",
            ));
        }
        let command = value
            .get("command")
            .and_then(|c| c.as_str())
            .unwrap_or("simulate")
            .to_owned();
        let damaged = |why: String| {
            Error::Usage(
                Diagnostic::new(format!(
                    "`{}` is a damaged partial result: {why}",
                    path.display()
                ))
                .help(format!(
                    "make it again with `polsim {command} … --emit partial`"
                )),
            )
        };
        let mut partial: Partial =
            serde_json::from_value(value).map_err(|e| damaged(e.to_string()))?;
        // Serialising what was read gives the bytes that were written (the
        // state's maps are sorted, its floats round-trip), so any change
        // to a count, a sum, a trial or the header shows.
        if partial.checksum().ok().as_ref() != Some(&partial.sha256) {
            return Err(damaged(
                "it does not match its `sha256`: it was changed after polsim wrote it".to_owned(),
            ));
        }
        Ok(partial)
    }

    /// The first way `other` (partial number `n`, from 1, at `path`)
    /// differs from `self` in what made it, as an error.
    pub fn check_same(&self, other: &Partial, n: usize, path: &Path) -> Result<()> {
        let which = format!("partial {n} (`{}`)", path.display());
        let mismatch = |what: String, help: &str| Err(Error::usage(what, help.to_owned()));
        if other.polsim != self.polsim {
            return mismatch(
                format!(
                    "{which} was made by polsim {}, the first by {}",
                    other.polsim, self.polsim
                ),
                "make every partial with one polsim version",
            );
        }
        if other.command != self.command {
            return mismatch(
                format!(
                    "{which} was made by `{}`, the first by `{}`",
                    other.command, self.command
                ),
                "merge partials of one command",
            );
        }
        if other.policies.len() != self.policies.len() {
            return mismatch(
                format!(
                    "{which} was made with {} policies, the first with {}",
                    other.policies.len(),
                    self.policies.len()
                ),
                "merge partials of one command",
            );
        }
        let sides = ["champion", "challenger"];
        for (i, (a, b)) in self.policies.iter().zip(&other.policies).enumerate() {
            let side = if self.policies.len() == 2 {
                format!("the {}'s ", sides[i])
            } else {
                "the ".to_owned()
            };
            if let (Some(fa), Some(fb)) = (&a.fields, &b.fields)
                && fa != fb
            {
                let typed = |f: &[(String, String)]| {
                    f.iter()
                        .map(|(n, t)| format!("{n}: {t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return mismatch(
                    format!(
                        "{which} typed {side}script's fields from its data as {}; the first as {}",
                        typed(fb),
                        typed(fa)
                    ),
                    "each part's first rows typed the columns differently: write a YAML policy with `fields` and `script:`, so every part reads the same types",
                );
            }
            // `compare`'s policies are the champion and the challenger.
            let kind = if self.policies.len() == 2 {
                format!("{} ", sides[i])
            } else {
                String::new()
            };
            if let (true, Some((file, ta)), Some((_, tb))) =
                (a.sha256 == b.sha256, &a.script, &b.script)
                && ta != tb
            {
                let sha = |t: &str| {
                    crate::dataset::fingerprint::sha256_hex(t.as_bytes())[..12].to_owned()
                };
                return mismatch(
                    format!(
                        "{which} was made with another {kind}script `{file}` (sha256 {}), the first with sha256 {}; `{}` is the same",
                        sha(tb),
                        sha(ta),
                        a.file
                    ),
                    "make every partial with the same policy files (and scripts)",
                );
            }
            if a.sha256 != b.sha256 || a.script != b.script {
                return mismatch(
                    format!(
                        "{which} was made with another {kind}policy: `{}` (sha256 {}), the first with `{}` (sha256 {})",
                        b.file,
                        &b.sha256[..12.min(b.sha256.len())],
                        a.file,
                        &a.sha256[..12.min(a.sha256.len())]
                    ),
                    "make every partial with the same policy files (and scripts)",
                );
            }
        }
        for (i, (pa, pb)) in self.params.iter().zip(&other.params).enumerate() {
            let sets = |p: &Partial| {
                if i == 1 {
                    [&p.set[..], &p.challenger_set[..]].concat()
                } else {
                    p.set.clone()
                }
            };
            let names: std::collections::BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
            for name in names {
                let (a, b) = (pa.get(name), pb.get(name));
                if a == b {
                    continue;
                }
                let how = |p: &Partial, v: Option<&String>| {
                    let v = v.map_or("unset", String::as_str);
                    let option = if i == 1 && p.challenger_set.iter().any(|(n, _)| n == name) {
                        Some("--challenger-set")
                    } else if sets(p).iter().any(|(n, _)| n == name) {
                        Some("--set")
                    } else {
                        None
                    };
                    match option {
                        Some(o) => format!("`{o} {name}={v}`"),
                        None => format!("`{name}={v}`"),
                    }
                };
                let side = if self.params.len() == 2 {
                    format!(" for the {}", sides[i])
                } else {
                    String::new()
                };
                let challenger = i == 1
                    && [self, other]
                        .iter()
                        .any(|p| p.challenger_set.iter().any(|(n, _)| n == name));
                return mismatch(
                    format!(
                        "{which} was made with {}{side}, the others with {}",
                        how(other, b),
                        how(self, a)
                    ),
                    if challenger {
                        "make every partial with the same `--challenger-set` values"
                    } else {
                        "make every partial with the same `--set` values"
                    },
                );
            }
        }
        // The same values in effect, written otherwise (`--set` of a
        // policy's own default, or left out): the merged manifest's `set`
        // would depend on which partial came first.
        for (flag, a, b) in [
            ("--set", &self.set, &other.set),
            (
                "--challenger-set",
                &self.challenger_set,
                &other.challenger_set,
            ),
        ] {
            // In the order given: the manifest lists the names so.
            let given = |v: &[(String, String)]| {
                if v.is_empty() {
                    return format!("no `{flag}`");
                }
                let each: Vec<String> =
                    v.iter().map(|(n, x)| format!("`{flag} {n}={x}`")).collect();
                each.join(" ")
            };
            if given(a) != given(b) {
                return mismatch(
                    format!(
                        "{which} was made with {}, the others with {}",
                        given(b),
                        given(a)
                    ),
                    &format!(
                        "make every partial with the same `{flag}` options (the values in effect agree, but the report's manifest lists the names set)"
                    ),
                );
            }
        }
        // A repeated option (`--param`, `--by`) given otherwise.
        let options = |flag: &str, values: &[String]| {
            if values.is_empty() {
                format!("no `{flag}`")
            } else {
                let each: Vec<String> = values.iter().map(|v| format!("`{flag} {v}`")).collect();
                each.join(" ")
            }
        };
        for (flag, a, b, help) in [
            (
                "--param",
                &self.param,
                &other.param,
                "make every partial of a sweep with the same `--param` grid",
            ),
            (
                "--by",
                &self.by,
                &other.by,
                "make every partial with the same `--by` options, in the same order",
            ),
        ] {
            if a != b && !(flag == "--by" && same_segments(a, b)) {
                return mismatch(
                    format!(
                        "{which} was made with {}, the others with {}",
                        options(flag, b),
                        options(flag, a)
                    ),
                    help,
                );
            }
        }
        if (other.trials, other.seed) != (self.trials, self.seed) {
            let show = |p: &Partial| match (p.trials, p.seed) {
                (Some(t), Some(s)) => format!("`--trials {t} --seed {s}`"),
                _ => "no `--trials`".to_owned(),
            };
            return mismatch(
                format!(
                    "{which} was made with {}, the others with {}",
                    show(other),
                    show(self)
                ),
                "make every partial with the same `--trials` and `--seed`",
            );
        }
        Ok(())
    }
}
