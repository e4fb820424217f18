//! The native and the Rhai path of a script policy agree: a property test
//! over generated scripts of the native subset and generated rows, missing
//! values, zeros and overflows included.
//!
//! The comparison itself is `fuzzing::native_vs_rhai` (the `native_script`
//! fuzz target runs it on scripts decoded from bytes): each script is
//! compiled once and evaluated natively and in Rhai, which must give the
//! same outcome, reasons and limit on every row, or the same error.

use super::lowering_tests::rows;
use crate::fuzzing;
use crate::policy::compile::compile_file;
use proptest::prelude::*;

fn field() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["user.a", "user.b", "user.d", "user.f"])
}

/// A number; `x` (a local) may appear in it when `local` is set.
fn number_with(local: bool) -> impl Strategy<Value = String> {
    let names = if local {
        vec!["0.5", "2.25", "params.k", "params.r", "x"]
    } else {
        vec!["0.5", "2.25", "params.k", "params.r"]
    };
    let leaf = prop_oneof![
        field().prop_map(str::to_owned),
        (-5i64..50).prop_map(|v| v.to_string()),
        prop::sample::select(names).prop_map(str::to_owned),
        Just("9223372036854775807".to_owned()),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                prop::sample::select(vec!["min", "max"]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            Just("user.d.floor()".to_owned()),
            Just("half(user.a)".to_owned()),
        ]
    })
}

fn number() -> impl Strategy<Value = String> {
    number_with(true)
}

fn condition() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (
            number(),
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            number()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        Just("user.p".to_owned()),
        Just("holds(user.p)".to_owned()),
        field().prop_map(|f| format!("is_missing({f})")),
        prop::sample::select(vec!["\"x\"", "\"y\"", "params.name"])
            .prop_map(|s| format!("user.s == {s}")),
        Just("tier(user.s) > 1".to_owned()),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn verdict() -> impl Strategy<Value = String> {
    prop_oneof![
        number().prop_map(|n| format!("approve({n})")),
        Just("approve()".to_owned()),
        Just("decline(\"LOW\")".to_owned()),
        Just("review(\"WATCH\", \"NEW\")".to_owned()),
        Just("decline(reasons)".to_owned()),
    ]
}

fn script() -> impl Strategy<Value = String> {
    (
        number_with(false),
        prop::collection::vec((condition(), verdict()), 0..3),
        prop::collection::vec(condition(), 0..3),
        condition(),
        verdict(),
        verdict(),
    )
        .prop_map(|(x, early, pushes, last, then, otherwise)| {
            let mut body = format!("    let x = {x};\n    let reasons = [];\n");
            for (c, v) in early {
                body += &format!("    if {c} {{ return {v}; }}\n");
            }
            for (i, c) in pushes.iter().enumerate() {
                let code = ["LOW", "CHECK", "THIN"][i];
                body += &format!("    if {c} {{ reasons.push(\"{code}\"); }}\n");
            }
            body += "    if reasons.len() > 1 { return decline(reasons); }\n";
            body += &format!("    if {last} {{ {then} }} else {{ {otherwise} }}\n");
            format!(
                "fn half(v) {{ v / 2 }}\n\
                 fn tier(s) {{ switch s {{ \"x\" => 1, \"y\" => 2, _ => 3 }} }}\n\
                 fn decide(user) {{\n{body}}}\n"
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn native_and_rhai_scripts_agree(script in script(), rows in rows(prop::sample::select(vec![0i64, 1, 5, i64::MAX]), 30)) {
        let (native, rhai) = fuzzing::native_vs_rhai(&script, &rows)
            .unwrap_or_else(|| panic!("does not compile, or not natively:\n{script}"));
        prop_assert_eq!(native, rhai, "{}\nrows {:?}", script, rows);
    }

    /// Each `if` a row evaluates, its value and compared values, and the
    /// verdict call, are the same traced natively and in Rhai.
    #[test]
    fn native_and_rhai_traces_agree(script in script(), rows in rows(prop::sample::select(vec![0i64, 1, 5, i64::MAX]), 30)) {
        let traces = fuzzing::traces_native_vs_rhai(&script, &rows);
        for (row, (native, rhai)) in traces.iter().enumerate() {
            if let Some(native) = native {
                prop_assert_eq!(native, rhai, "{}\nrow {} of {:?}", script, row, rows);
            }
        }
    }
}

#[test]
fn the_bundled_scripts_compile_natively() {
    for path in [
        "policies/merchant_script.yaml",
        "tests/fixtures/jd_plus_script.yaml",
    ] {
        let policy = compile_file(std::path::Path::new(path), &[]).unwrap();
        assert!(policy.script.unwrap().native.is_some(), "{path}");
    }
}

#[test]
fn a_trace_records_each_if_its_values_and_the_deciding_check() {
    use crate::engine::script_trace::Seen;
    let script = "fn decide(user) {\n    if !holds(user.p) { return decline(\"LOW\"); }\n    if user.a < params.k { review(\"WATCH\") } else if user.s == \"x\" { approve(100) } else { approve() }\n}\n";
    let rows = [
        "2,0,1.5,0.5,true,x",
        "7,0,1.5,0.5,true,x",
        ",0,1.5,0.5,false,y",
        ",0,1.5,0.5,true,y",
    ]
    .map(str::to_owned);
    let traces = fuzzing::traces_native_vs_rhai(script, &rows);
    assert_eq!(traces.len(), 4);
    for (native, rhai) in &traces {
        assert_eq!(native.as_ref(), Some(rhai));
    }
    let at = |s: &str| script.find(s).unwrap();
    // a = 2 < 3: the second `if` holds; its body holds the verdict.
    let p = &traces[0].1;
    assert_eq!(p.checks.len(), 2);
    assert_eq!(p.checks[0].value, Seen::Bool(false));
    assert_eq!(p.checks[0].compared, None);
    assert_eq!(p.checks[1].site.at, at("if user.a"));
    assert_eq!(p.checks[1].value, Seen::Bool(true));
    let compared = p.checks[1].compared.as_ref().unwrap();
    assert_eq!(
        (&compared.left, compared.op, &compared.right),
        (&Seen::Int(2), "<", &Seen::Int(3))
    );
    assert_eq!(compared.to_string(), "2 < 3");
    assert_eq!(p.verdict_at, Some(at("review")));
    assert_eq!(p.deciding(script, Some(&["WATCH"])), vec![1]);
    // a = 7: the `else if` runs and approves in its body; both decide.
    let p = &traces[1].1;
    assert_eq!(p.checks.len(), 3);
    let compared = p.checks[2].compared.as_ref().unwrap();
    assert_eq!(compared.to_string(), r#""x" == "x""#);
    assert_eq!(p.verdict_at, Some(at("approve(100)")));
    assert_eq!(p.deciding(script, Some(&[])), vec![1, 2]);
    // p false: declined by the first check.
    let p = &traces[2].1;
    assert_eq!(p.checks.len(), 1);
    assert_eq!(p.checks[0].value, Seen::Bool(true));
    assert_eq!(p.verdict_at, Some(at("decline")));
    assert_eq!(p.deciding(script, Some(&["LOW"])), vec![0]);
    // a missing: the row stops on the second check.
    let p = &traces[3].1;
    assert_eq!(p.checks.len(), 2);
    assert_eq!(p.checks[1].value, Seen::Missing);
    assert_eq!(p.deciding(script, None), vec![1]);
}
