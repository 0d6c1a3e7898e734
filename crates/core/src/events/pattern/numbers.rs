//! Numbers as EventBridge compares them: exact decimals within +-5.0e9 with at most six
//! decimals, compared numerically; anything else by value.

use super::*;

// Numbers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumError {
    TooPrecise,
    OutOfRange,
    Malformed,
}

impl NumError {
    pub(super) fn message(self) -> &'static str {
        match self {
            NumError::TooPrecise => MSG_DECIMALS,
            NumError::OutOfRange | NumError::Malformed => MSG_RANGE,
        }
    }
}

/// The exact value of a JSON number: `digits × 10^exp`, with no leading or trailing zeros in
/// `digits` (zero is empty `digits`, not negative). Equal values have equal `Decimal`s, so
/// `1E2`, `100` and `100.0` agree without going through floating point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    pub(super) negative: bool,
    pub(super) digits: String,
    pub(super) exp: i64,
}

impl Decimal {
    pub(super) fn parse(text: &str) -> Result<Decimal, NumError> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part)
        {
            return Err(NumError::Malformed);
        }
        let exp: i64 = match exponent {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => (-1, d),
                    None => (1, e.strip_prefix('+').unwrap_or(e)),
                };
                if digits.is_empty() || !all_digits(digits) {
                    return Err(NumError::Malformed);
                }
                let digits = digits.trim_start_matches('0');
                // Saturate absurd exponents; such values are out of range or too precise.
                let magnitude: i64 = if digits.len() > 15 {
                    1_000_000_000_000_000
                } else if digits.is_empty() {
                    0
                } else {
                    digits.parse().map_err(|_| NumError::Malformed)?
                };
                sign * magnitude
            }
        };
        let all = format!("{int_part}{frac_part}");
        let significant = all.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(Decimal {
                negative: false,
                digits: String::new(),
                exp: 0,
            });
        }
        let trimmed = significant.trim_end_matches('0');
        let trailing = (significant.len() - trimmed.len()) as i64;
        Ok(Decimal {
            negative,
            digits: trimmed.to_string(),
            exp: exp - frac_part.len() as i64 + trailing,
        })
    }

    /// The value in millionths, when it is numerically comparable: within ±5.0e9 and with at
    /// most six decimals.
    pub(super) fn micros(&self) -> Result<i64, NumError> {
        if self.digits.is_empty() {
            return Ok(0);
        }
        if self.exp < -6 {
            return Err(NumError::TooPrecise);
        }
        let shift = self.exp + 6; // millionths = digits × 10^shift
        if self.digits.len() as i64 + shift > 16 {
            return Err(NumError::OutOfRange);
        }
        let base: u64 = self.digits.parse().map_err(|_| NumError::Malformed)?;
        let magnitude = base
            .checked_mul(10u64.pow(shift as u32))
            .filter(|m| *m <= NUMERIC_LIMIT_MICROS)
            .ok_or(NumError::OutOfRange)? as i64;
        Ok(if self.negative { -magnitude } else { magnitude })
    }
}

/// A number's value in millionths (see [`Decimal::micros`]).
pub(super) fn to_micros(text: &str) -> Result<i64, NumError> {
    Decimal::parse(text)?.micros()
}

/// How a number takes part in exact matching: numerically when comparable, else by value.
pub(super) fn number_key(text: &str) -> (Option<i64>, Option<Decimal>) {
    let decimal = Decimal::parse(text).ok();
    (decimal.as_ref().and_then(|d| d.micros().ok()), decimal)
}
