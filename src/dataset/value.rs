//! Field types and the parsers that turn cell bytes into typed values.
//!
//! The same parsers read CSV cells and policy literals, so `0.1` in a policy
//! and `0.1` in a decimal column are the same exact tenth, and `yes` means
//! `true` wherever it appears. Parsers take bytes and never allocate.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// The type of a field as declared in a policy's `fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    Int,
    Float,
    Decimal,
    Bool,
}

impl FieldType {
    pub const NAMES: [&'static str; 5] = ["string", "int", "float", "decimal", "bool"];

    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "decimal" => FieldType::Decimal,
            "bool" => FieldType::Bool,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Decimal => "decimal",
            FieldType::Bool => "bool",
        }
    }

    /// The type's name with its article: `an int`, `a decimal`.
    pub fn with_article(self) -> &'static str {
        match self {
            FieldType::String => "UTF-8 text",
            FieldType::Int => "an int",
            FieldType::Float => "a float",
            FieldType::Decimal => "a decimal",
            FieldType::Bool => "a bool",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::Int | FieldType::Float | FieldType::Decimal)
    }

    /// What a value of this type looks like, for error messages.
    pub fn example(self) -> &'static str {
        match self {
            FieldType::String => "any text",
            FieldType::Int => "a whole number such as `600`",
            FieldType::Float => "a number such as `0.25`",
            FieldType::Decimal => "an exact number such as `1999.90`",
            FieldType::Bool => "true/false, yes/no, y/n, 1/0 or t/f",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A typed literal from a policy (or a parsed cell, when one is needed whole).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Box<[u8]>),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Bool(bool),
}

impl Value {
    /// Parses `text` as a value of type `ty`; `None` when it does not parse.
    pub fn parse(ty: FieldType, text: &[u8]) -> Option<Value> {
        Some(match ty {
            FieldType::String => Value::String(text.into()),
            FieldType::Int => Value::Int(parse_int(text)?),
            FieldType::Float => Value::Float(parse_float(text)?),
            FieldType::Decimal => Value::Decimal(parse_decimal(text)?),
            FieldType::Bool => Value::Bool(parse_bool(text)?),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(&String::from_utf8_lossy(s)),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Decimal(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Parses a base-10 i64, with an optional sign and surrounding spaces.
pub fn parse_int(text: &[u8]) -> Option<i64> {
    // Fast path: up to 18 plain digits cannot overflow, so no checks per
    // digit; one pass both checks and accumulates (the value is thrown away
    // if a byte is not a digit, so it may wrap meanwhile).
    if !text.is_empty() && text.len() <= 18 {
        let (mut value, mut digits) = (0i64, true);
        for &b in text {
            let d = b.wrapping_sub(b'0');
            digits &= d <= 9;
            value = value.wrapping_mul(10).wrapping_add(i64::from(d));
        }
        if digits {
            return Some(value);
        }
    }
    let text = trim(text);
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

pub fn parse_float(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(trim(text)).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses an exact decimal: `1999.90`, `-3`, `1e3` is refused (money is never
/// written in scientific notation, and refusing it catches a float column).
/// So is a value of [`MAX_DECIMAL`] or more in size (see there).
pub fn parse_decimal(text: &[u8]) -> Option<Decimal> {
    if let Some(d) = parse_plain_decimal(text) {
        return Some(d);
    }
    parse_any_decimal(text).filter(|d| d.abs() < MAX_DECIMAL)
}

/// Decimals are money, and a total of money must not overflow the 28 digits
/// a decimal holds (rust_decimal would panic): a value must be less than
/// 10^15 (a quadrillion) in size, so that ten billion of them still add up.
pub const MAX_DECIMAL: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// Whether `text` is a decimal of [`MAX_DECIMAL`] or more in size.
pub fn is_too_large_decimal(text: &[u8]) -> bool {
    parse_any_decimal(text).is_some_and(|d| d.abs() >= MAX_DECIMAL)
}

fn parse_any_decimal(text: &[u8]) -> Option<Decimal> {
    let s = std::str::from_utf8(trim(text)).ok()?;
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty()
        || s.bytes()
            .any(|b| !(b.is_ascii_digit() || b == b'.' || b == b'-'))
    {
        return None;
    }
    Decimal::from_str(s).ok()
}

/// Fast path of `parse_decimal` for `[-]digits[.digits]` with at most 18
/// digits: the digits are the mantissa and the fraction's length the scale,
/// which is exact without going through text.
fn parse_plain_decimal(text: &[u8]) -> Option<Decimal> {
    let (negative, body) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    let (mut mantissa, mut scale, mut digits, mut seen_point) = (0i64, 0u32, 0, false);
    for &b in body {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i64::from(b - b'0');
                digits += 1;
                scale += u32::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
        if digits > 18 {
            return None;
        }
    }
    // At most 15 digits before the point keeps it below `MAX_DECIMAL`
    // (more, as in `0000000000000001`, is left to the general path).
    if digits == 0 || digits - scale > 15 {
        return None;
    }
    Some(Decimal::new(
        if negative { -mantissa } else { mantissa },
        scale,
    ))
}

/// Parses a bool: true/false, yes/no, y/n, 1/0, t/f, in any case.
#[inline]
pub fn parse_bool(text: &[u8]) -> Option<bool> {
    // Fast path: `true` and `false`, the spellings machine-written files use,
    // told apart without a branch (a column of both would mispredict half
    // of the time).
    if let Some(head) = text.first_chunk::<4>() {
        let head = u32::from_le_bytes(*head);
        let is_true = (text.len() == 4) & (head == u32::from_le_bytes(*b"true"));
        let is_false = (text.len() == 5)
            & (head == u32::from_le_bytes(*b"fals"))
            & (text.last() == Some(&b'e'));
        if is_true | is_false {
            return Some(is_true);
        }
    }
    if let [digit @ (b'0' | b'1')] = text {
        return Some(*digit == b'1');
    }
    parse_bool_spelled(text)
}

/// `parse_bool` for every other spelling.
#[cold]
fn parse_bool_spelled(text: &[u8]) -> Option<bool> {
    let t = trim(text);
    if t.len() > 5 {
        return None;
    }
    let mut buf = [0u8; 5];
    for (dst, src) in buf.iter_mut().zip(t) {
        *dst = src.to_ascii_lowercase();
    }
    match &buf[..t.len()] {
        b"true" | b"yes" | b"y" | b"1" | b"t" => Some(true),
        b"false" | b"no" | b"n" | b"0" | b"f" => Some(false),
        _ => None,
    }
}

fn trim(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_in_every_spelling() {
        for t in ["true", "TRUE", "Yes", "y", "1", "T", " t "] {
            assert_eq!(parse_bool(t.as_bytes()), Some(true), "{t}");
        }
        for f in ["false", "No", "N", "0", "f", "F"] {
            assert_eq!(parse_bool(f.as_bytes()), Some(false), "{f}");
        }
        for bad in ["", "2", "truth", "yess", "on"] {
            assert_eq!(parse_bool(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn ints_with_signs_and_limits() {
        assert_eq!(parse_int(b"600"), Some(600));
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"+7"), Some(7));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for bad in ["", "-", "6.0", "6e2", "12a", "1 2"] {
            assert_eq!(parse_int(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal(b"0.1"), Some(Decimal::new(1, 1)));
        assert_eq!(parse_decimal(b"1999.90"), Some(Decimal::new(199990, 2)));
        assert_eq!(parse_decimal(b"-3"), Some(Decimal::new(-3, 0)));
        assert_eq!(parse_decimal(b"1e3"), None);
        assert_eq!(parse_decimal(b"abc"), None);
        assert_eq!(parse_decimal(b""), None);
    }

    #[test]
    fn decimals_stay_below_a_quadrillion() {
        assert_eq!(MAX_DECIMAL, Decimal::from(1_000_000_000_000_000i64));
        for ok in [
            "999999999999999.99",
            "-999999999999999",
            "0000000000000001.5",
        ] {
            assert!(parse_decimal(ok.as_bytes()).is_some(), "{ok}");
            assert!(!is_too_large_decimal(ok.as_bytes()), "{ok}");
        }
        for big in [
            "1000000000000000",
            "-1000000000000000.00",
            "79228162514264337593543950335",
        ] {
            assert_eq!(parse_decimal(big.as_bytes()), None, "{big}");
            assert!(is_too_large_decimal(big.as_bytes()), "{big}");
        }
        assert!(!is_too_large_decimal(b"abc"));
    }

    #[test]
    fn fast_paths_agree_with_the_general_parsers() {
        for text in [
            "0",
            "7",
            "600",
            "000123",
            "999999999999999999",
            "-5",
            "1.",
            ".5",
            "12.340",
            "-0.10",
            "1.2.3",
            "",
            "-",
            "1e3",
            " 4",
        ] {
            let slow = std::str::from_utf8(
                text.trim_ascii()
                    .strip_prefix('+')
                    .unwrap_or(text.trim_ascii())
                    .as_bytes(),
            )
            .ok()
            .filter(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            })
            .and_then(|s| Decimal::from_str(s).ok())
            .filter(|d| d.abs() < MAX_DECIMAL);
            assert_eq!(parse_decimal(text.as_bytes()), slow, "{text:?}");
            assert_eq!(
                parse_decimal(text.as_bytes()).map(|d| d.scale()),
                slow.map(|d| d.scale()),
                "{text:?}"
            );
        }
        assert_eq!(
            parse_int(b"999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        assert_eq!(parse_int(b"0042"), Some(42));
    }

    #[test]
    fn floats_refuse_non_finite() {
        assert_eq!(parse_float(b"0.25"), Some(0.25));
        assert_eq!(parse_float(b"inf"), None);
        assert_eq!(parse_float(b"NaN"), None);
    }
}
