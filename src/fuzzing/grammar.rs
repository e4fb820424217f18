//! Expressions and scripts built from bytes, so that nearly every input
//! of the expression and script targets is one polsim compiles: each byte
//! picks the next choice of a small grammar (the one the engine's property
//! tests generate from), and an exhausted input picks the first choice,
//! which always ends the recursion.

/// A cursor over the choices an input makes.
pub(crate) struct Choices<'a> {
    bytes: &'a [u8],
}

impl<'a> Choices<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes }
    }

    /// A choice among `n`.
    fn pick(&mut self, n: usize) -> usize {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                usize::from(b) % n
            }
            None => 0,
        }
    }

    fn one_of<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[self.pick(options.len())]
    }

    /// A number of the simple subset over `a, b, d, f, $k, params.r`.
    fn num_expr(&mut self, depth: u32) -> String {
        match if depth == 0 { 0 } else { self.pick(5) } {
            0 | 1 => match self.pick(8) {
                0 => self
                    .one_of(&["a", "b", "d", "f", "$k", "params.r"])
                    .to_owned(),
                1 => format!("{}.{}", self.pick(40), 1 + self.pick(9)),
                2 => self
                    .one_of(&[
                        "9223372036854775807",
                        "4611686018427387904",
                        "0.1",
                        "1000000",
                    ])
                    .to_owned(),
                _ => self.pick(40).to_string(),
            },
            2 | 3 => {
                let op = self.one_of(&["+", "-", "*", "/", "%", "+", "-", "*"]);
                let (x, y) = (self.num_expr(depth - 1), self.num_expr(depth - 1));
                format!("({x} {op} {y})")
            }
            _ => format!("-({})", self.num_expr(depth - 1)),
        }
    }

    /// A condition of the simple subset.
    pub(crate) fn bool_expr(&mut self, depth: u32) -> String {
        const CMP: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];
        match if depth == 0 { 0 } else { self.pick(5) } {
            0 | 1 => match self.pick(6) {
                0 => {
                    let (x, op, y) = (self.num_expr(2), self.one_of(&CMP), self.num_expr(2));
                    format!("{x} {op} {y}")
                }
                1 => "p".to_owned(),
                2 => format!(
                    "s {} \"{}\"",
                    self.one_of(&CMP),
                    self.one_of(&["x", "y", ""])
                ),
                3 => self
                    .one_of(&["true", "false", "p == true", "!p"])
                    .to_owned(),
                _ => {
                    let (x, op, y) = (self.num_expr(0), self.one_of(&CMP), self.num_expr(0));
                    format!("{x} {op} {y}")
                }
            },
            2 => format!(
                "({} && {})",
                self.bool_expr(depth - 1),
                self.bool_expr(depth - 1)
            ),
            3 => format!(
                "({} || {})",
                self.bool_expr(depth - 1),
                self.bool_expr(depth - 1)
            ),
            _ => format!("!({})", self.bool_expr(depth - 1)),
        }
    }

    /// A number in a script; `x` (a local) may appear when `local`.
    fn number(&mut self, local: bool, depth: u32) -> String {
        match if depth == 0 { 0 } else { self.pick(8) } {
            0..=2 => match self.pick(5) {
                0 => self
                    .one_of(&["user.a", "user.b", "user.d", "user.f"])
                    .to_owned(),
                1 => (self.pick(56) as i64 - 5).to_string(),
                2 if local => self
                    .one_of(&["0.5", "2.25", "params.k", "params.r", "x"])
                    .to_owned(),
                2 => self
                    .one_of(&["0.5", "2.25", "params.k", "params.r"])
                    .to_owned(),
                3 => "9223372036854775807".to_owned(),
                _ => self
                    .one_of(&["user.d.floor()", "half(user.a)", "user.a.abs()", "-1"])
                    .to_owned(),
            },
            3 | 4 => {
                let op = self.one_of(&["+", "-", "*", "/", "%"]);
                let (x, y) = (self.number(local, depth - 1), self.number(local, depth - 1));
                format!("({x} {op} {y})")
            }
            5 => {
                let f = self.one_of(&["min", "max"]);
                let (x, y) = (self.number(local, depth - 1), self.number(local, depth - 1));
                format!("{f}({x}, {y})")
            }
            _ => format!("-({})", self.number(local, depth - 1)),
        }
    }

    fn condition(&mut self, depth: u32) -> String {
        const CMP: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];
        match if depth == 0 { 0 } else { self.pick(5) } {
            0 | 1 => match self.pick(7) {
                0 | 1 => {
                    let (x, op, y) = (
                        self.number(true, 2),
                        self.one_of(&CMP),
                        self.number(true, 2),
                    );
                    format!("{x} {op} {y}")
                }
                2 => self
                    .one_of(&["user.p", "holds(user.p)", "!user.p"])
                    .to_owned(),
                3 => format!(
                    "is_missing({})",
                    self.one_of(&["user.a", "user.b", "user.d", "user.f", "user.p", "user.s"])
                ),
                4 => format!(
                    "user.s == {}",
                    self.one_of(&["\"x\"", "\"y\"", "params.name"])
                ),
                5 => "tier(user.s) > 1".to_owned(),
                _ => format!("holds({} > {})", self.number(true, 1), self.number(true, 1)),
            },
            2 => format!(
                "({} && {})",
                self.condition(depth - 1),
                self.condition(depth - 1)
            ),
            3 => format!(
                "({} || {})",
                self.condition(depth - 1),
                self.condition(depth - 1)
            ),
            _ => format!("!({})", self.condition(depth - 1)),
        }
    }

    fn verdict(&mut self) -> String {
        match self.pick(6) {
            0 => format!("approve({})", self.number(true, 3)),
            1 => "approve()".to_owned(),
            2 => "decline(\"LOW\")".to_owned(),
            3 => "review(\"CHECK\", \"LOW\")".to_owned(),
            4 => "decline(reasons)".to_owned(),
            _ => "review(reasons)".to_owned(),
        }
    }

    /// A `decide(user)` script of the native subset.
    pub(crate) fn script(&mut self) -> String {
        let mut body = format!(
            "    let x = {};\n    let reasons = [];\n",
            self.number(false, 3)
        );
        for _ in 0..self.pick(4) {
            let (c, v) = (self.condition(2), self.verdict());
            body += &format!("    if {c} {{ return {v}; }}\n");
        }
        for code in ["LOW", "CHECK", "THIN"].iter().take(self.pick(4)) {
            body += &format!(
                "    if {} {{ reasons.push(\"{code}\"); }}\n",
                self.condition(2)
            );
        }
        body += "    if reasons.len() > 1 { return decline(reasons); }\n";
        let (c, then, otherwise) = (self.condition(2), self.verdict(), self.verdict());
        body += &format!("    if {c} {{ {then} }} else {{ {otherwise} }}\n");
        format!(
            "fn half(v) {{ v / 2 }}\n\
             fn tier(s) {{ switch s {{ \"x\" => 1, \"y\" => 2, _ => 3 }} }}\n\
             fn decide(user) {{\n{body}}}\n"
        )
    }
}
