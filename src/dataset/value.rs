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
#[inline]
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
    parse_int_slow(text)
}

/// The rest of [`parse_int`]: signs, spaces, leading zeros, 19 digits. Out
/// of line, so that the fast path stays small enough to inline into the
/// column fill loop.
#[cold]
#[inline(never)]
fn parse_int_slow(text: &[u8]) -> Option<i64> {
    let text = trim(text);
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // Leading zeros carry no value, however many there are.
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let zeros = digits.iter().take_while(|&&b| b == b'0').count();
    let digits = &digits[zeros.min(digits.len() - 1)..];
    if digits.len() > 19 {
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
/// So is a value of [`MAX_DECIMAL`] or more in size (see there), and one a
/// decimal cannot hold exactly (see [`MAX_DIGITS`]).
pub fn parse_decimal(text: &[u8]) -> Option<Decimal> {
    if let Some(d) = parse_plain_decimal(text) {
        return Some(d);
    }
    parse_any_decimal(text).ok()
}

/// Decimals are money, and a total of money must not overflow the 28 digits
/// a decimal holds (rust_decimal would panic): a value must be less than
/// 10^15 (a quadrillion) in size, so that ten billion of them still add up.
pub const MAX_DECIMAL: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// The significant digits a decimal holds exactly, and the most of them
/// after the point. Leading zeros and the fraction's trailing zeros do not
/// count: `1.000000000000000000000000000000` is exactly one, but
/// `0.50000000000000000000000000001` would be rounded, so it is refused.
pub const MAX_DIGITS: usize = 28;

/// Why a text is not a decimal polsim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not written as a decimal at all.
    NotDecimal,
    /// [`MAX_DECIMAL`] or more in size.
    TooLarge,
    /// More digits than a decimal holds exactly ([`MAX_DIGITS`]).
    TooManyDigits,
}

/// Whether `text` is a decimal of [`MAX_DECIMAL`] or more in size.
pub fn is_too_large_decimal(text: &[u8]) -> bool {
    parse_any_decimal(text) == Err(DecimalError::TooLarge)
}

/// Whether `text` is a decimal (below [`MAX_DECIMAL`]) with more digits
/// than a decimal holds exactly.
pub fn has_too_many_digits(text: &[u8]) -> bool {
    parse_any_decimal(text) == Err(DecimalError::TooManyDigits)
}

/// The general path of [`parse_decimal`], saying why a text is refused.
fn parse_any_decimal(text: &[u8]) -> Result<Decimal, DecimalError> {
    let s = std::str::from_utf8(trim(text)).map_err(|_| DecimalError::NotDecimal)?;
    // One sign at most: `+-5` is no more a number than `-+5` is.
    let s = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with('-') => return Err(DecimalError::NotDecimal),
        Some(rest) => rest,
        None => s,
    };
    // Too large is the first thing to say about a value that is also too long.
    if digits(s)?.0 > 15 {
        return Err(DecimalError::TooLarge);
    }
    let d = exact_decimal(s)?;
    if d.abs() >= MAX_DECIMAL {
        return Err(DecimalError::TooLarge);
    }
    Ok(d)
}

/// The decimal `[-]digits[.digits]` writes, if a decimal holds it exactly
/// (see [`MAX_DIGITS`]), whatever its size below 10^28.
pub fn exact_decimal(s: &str) -> Result<Decimal, DecimalError> {
    let (whole, fraction, significant) = digits(s)?;
    if whole > MAX_DIGITS {
        return Err(DecimalError::TooLarge);
    }
    if significant > MAX_DIGITS || fraction > MAX_DIGITS {
        return Err(DecimalError::TooManyDigits);
    }
    // rust_decimal rounds what it cannot hold; what is left here it holds
    // exactly (trailing zeros past its 28 digits it drops, losing nothing).
    Decimal::from_str(s).map_err(|_| DecimalError::NotDecimal)
}

/// The digits of `[-]digits[.digits]` that carry its value: before the
/// point (without leading zeros), after it (without trailing zeros), and
/// significant.
fn digits(s: &str) -> Result<(usize, usize, usize), DecimalError> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() + fraction.len() == 0
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(DecimalError::NotDecimal);
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let significant = if whole.is_empty() {
        fraction.trim_start_matches('0').len()
    } else {
        whole.len() + fraction.len()
    };
    Ok((whole.len(), fraction.len(), significant))
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
            // A 19th digit could overflow the mantissa: the general path.
            b'0'..=b'9' if digits < 18 => {
                mantissa = mantissa * 10 + i64::from(b - b'0');
                digits += 1;
                scale += u32::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
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
    fn one_sign_at_most_for_every_number_type() {
        for bad in ["+-5", "-+5", "++5", "--5", " +-5 ", "+-0.5"] {
            assert_eq!(parse_decimal(bad.as_bytes()), None, "{bad}");
            assert_eq!(parse_int(bad.as_bytes()), None, "{bad}");
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_decimal(b"+5"), Some(Decimal::new(5, 0)));
        assert_eq!(
            parse_decimal(b"+5.00000000000000001"),
            exact_decimal("5.00000000000000001").ok()
        );
    }

    #[test]
    fn ints_take_leading_zeros_of_any_length() {
        assert_eq!(parse_int(b"00000000000000000001"), Some(1));
        assert_eq!(parse_int(b"-000000000000000000000000042"), Some(-42));
        assert_eq!(parse_int(b"+0000000000000000000000"), Some(0));
        assert_eq!(parse_int(b"000000009223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"000000009223372036854775808"), None);
        assert_eq!(parse_int(b"0000000000000000000a"), None);
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

    /// Found by the `csv_reader` fuzz target: the fast path multiplied the
    /// mantissa by ten once more before it noticed a 19th digit, which
    /// overflows an i64 (a panic in a debug build).
    #[test]
    fn regression_nineteen_digit_decimals_leave_the_fast_path_before_overflowing() {
        for text in [
            "9999999999999999999",
            "-9999999999999999999",
            "99999999999999999.99",
        ] {
            assert_eq!(parse_decimal(text.as_bytes()), None, "{text}");
            assert!(is_too_large_decimal(text.as_bytes()), "{text}");
        }
        assert_eq!(
            parse_decimal(b"0.0000000000000000009"),
            Some(Decimal::new(9, 19))
        );
        assert_eq!(
            parse_decimal(b"999999999999999.999"),
            Some(Decimal::new(999_999_999_999_999_999, 3))
        );
    }

    #[test]
    fn decimals_a_decimal_cannot_hold_exactly_are_refused_not_rounded() {
        for long in [
            "0.50000000000000000000000000001",
            "-0.50000000000000000000000000001",
            "+0.50000000000000000000000000001",
            "0.00000000000000000000000000001",
            "123456789012345.12345678901234",
            " 1.00000000000000000000000000001 ",
        ] {
            assert_eq!(parse_decimal(long.as_bytes()), None, "{long}");
            assert!(has_too_many_digits(long.as_bytes()), "{long}");
            assert!(!is_too_large_decimal(long.as_bytes()), "{long}");
        }
        // Trailing zeros and leading zeros carry nothing: exact, so accepted.
        for (exact, value) in [
            ("1.000000000000000000000000000000000", Decimal::ONE),
            ("0000000000000000000000000000001.5", Decimal::new(15, 1)),
            ("0.0000000000000000000000000001", Decimal::new(1, 28)),
            (
                "123456789012345.1234567890123",
                Decimal::from_str("123456789012345.1234567890123").unwrap(),
            ),
        ] {
            assert_eq!(parse_decimal(exact.as_bytes()), Some(value), "{exact}");
            assert!(!has_too_many_digits(exact.as_bytes()), "{exact}");
        }
        // Too large comes first when a value is both.
        let both = b"1234567890123456789.123456789012345";
        assert!(is_too_large_decimal(both) && !has_too_many_digits(both));
        assert!(is_too_large_decimal(
            b"100000000000000000000000000000000000"
        ));
        for not in ["abc", "1e-30", "1.2.3", "--1", "", "-"] {
            assert!(!has_too_many_digits(not.as_bytes()), "{not}");
            assert_eq!(parse_decimal(not.as_bytes()), None, "{not}");
        }
        // A float's printed form, with no size cap but the same exactness.
        assert_eq!(
            exact_decimal("1000000000000000000000"),
            Ok(Decimal::from(1_000_000_000_000_000_000_000i128))
        );
        assert_eq!(
            exact_decimal("0.000000000000000000000000000015"),
            Err(DecimalError::TooManyDigits)
        );
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
