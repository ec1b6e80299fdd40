//! Simulated time: integer nanoseconds, never a float and never the wall clock.
//!
//! `SimTime` is an instant since the start of a run; `SimDuration` is a span.
//! Both parse from and print as human units (`200ms`, `1.5s`, `5m`), which is
//! how scenario and topology files write them.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Nanoseconds since the start of the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const fn from_nanos(n: u64) -> Self {
        SimDuration(n)
    }
    pub const fn from_micros(n: u64) -> Self {
        SimDuration(n * 1_000)
    }
    pub const fn from_millis(n: u64) -> Self {
        SimDuration(n * 1_000_000)
    }
    pub const fn from_secs(n: u64) -> Self {
        SimDuration(n * 1_000_000_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// A short reading for tables: `9.0s`, `404us`, `12ms` (truncated, not
    /// round-trippable; use `Display` where the value must parse back).
    pub fn human(self) -> String {
        let n = self.0;
        if n >= 1_000_000_000 {
            format!(
                "{}.{}s",
                n / 1_000_000_000,
                (n % 1_000_000_000) / 100_000_000
            )
        } else if n >= 1_000_000 {
            format!("{}ms", n / 1_000_000)
        } else if n >= 1_000 {
            format!("{}us", n / 1_000)
        } else {
            format!("{n}ns")
        }
    }

    /// Parses `250ms`, `1.5s`, `50us`, `100ns`, `2m`, `4h` or a bare `0`.
    /// Fractions are exact decimal arithmetic, never floats.
    pub fn parse(text: &str) -> Result<SimDuration, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(SimDuration::ZERO);
        }
        if t.starts_with('-') {
            return Err(format!(
                "duration `{t}` is negative; times count forward from the start (0s)"
            ));
        }
        let body = t.strip_prefix('+').unwrap_or(t);
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration `{t}` has no unit (use ns, us, ms, s, m or h)"))?;
        let (num, unit) = body.split_at(split);
        let unit_ns: u64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "duration `{t}` has unknown unit `{other}` (use ns, us, ms, s, m or h)"
                ));
            }
        };
        let (whole, frac) = match num.split_once('.') {
            Some((w, f)) => (w, f),
            None => (num, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(format!("duration `{t}` has no number"));
        }
        let bad = || format!("duration `{t}` is not a number followed by a unit");
        let too_large = || {
            format!(
                "duration `{t}` is too large (antlab counts time in nanoseconds, up to {}h, about 584 years)",
                u64::MAX / 3_600_000_000_000
            )
        };
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            // Only digits here, so a failure means too many of them.
            whole.parse().map_err(|_| too_large())?
        };
        let mut total = whole.checked_mul(unit_ns).ok_or_else(too_large)?;
        let mut scale = unit_ns;
        for digit in frac.chars() {
            let d = digit.to_digit(10).ok_or_else(bad)? as u64;
            scale /= 10;
            if scale == 0 {
                return Err(format!("duration `{t}` is finer than one nanosecond"));
            }
            total = total.checked_add(d * scale).ok_or_else(too_large)?;
        }
        Ok(SimDuration(total))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, o: SimTime) -> SimDuration {
        self.since(o)
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(o.0))
    }
}

/// Prints seconds with nine decimals: `12.000200000`. Fixed width keeps logs aligned.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

/// Prints the largest unit that divides exactly: `200ms`, `1.5s` style is not used
/// so that a printed duration always parses back to the same value.
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let units: [(u64, &str); 5] = [
            (3_600_000_000_000, "h"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        if n == 0 {
            return write!(f, "0s");
        }
        for (size, name) in units {
            if n.is_multiple_of(size) {
                return write!(f, "{}{}", n / size, name);
            }
        }
        unreachable!("every integer is a multiple of one nanosecond")
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SimDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 200ms, 1.5s or 5m")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimDuration, E> {
                SimDuration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SimDuration, E> {
                if v == 0 {
                    Ok(SimDuration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "duration {v} has no unit (write {v}s or {v}ms)"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SimDuration, E> {
                if v == 0 {
                    Ok(SimDuration::ZERO)
                } else if v < 0 {
                    Err(E::custom(format!(
                        "duration {v} is negative; times count forward from the start (0s)"
                    )))
                } else {
                    Err(E::custom(format!(
                        "duration {v} has no unit (write {v}s or {v}ms)"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for SimTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_past_u64_nanoseconds_is_an_error_not_a_wrap() {
        // 18446744073.709551615 s is u64::MAX ns; one more nanosecond is not.
        assert_eq!(
            SimDuration::parse("18446744073.709551615s"),
            Ok(SimDuration(u64::MAX))
        );
        for t in ["18446744073.709551616s", "18446744073.999999999s"] {
            let e = SimDuration::parse(t).unwrap_err();
            assert!(e.contains("is too large"), "{t}: {e}");
        }
    }

    #[test]
    fn parses_units_exactly() {
        assert_eq!(
            SimDuration::parse("200ms").unwrap(),
            SimDuration::from_millis(200)
        );
        assert_eq!(
            SimDuration::parse("1.5s").unwrap(),
            SimDuration::from_millis(1500)
        );
        assert_eq!(
            SimDuration::parse("50us").unwrap(),
            SimDuration::from_micros(50)
        );
        assert_eq!(
            SimDuration::parse("4h").unwrap(),
            SimDuration::from_secs(14_400)
        );
        assert_eq!(SimDuration::parse("0").unwrap(), SimDuration::ZERO);
        assert!(SimDuration::parse("5").is_err());
        assert!(SimDuration::parse("5 parsecs").is_err());
        assert!(SimDuration::parse("0.0000000001s").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["200ms", "1500ms", "50us", "4h", "7ns", "3s"] {
            let d = SimDuration::parse(s).unwrap();
            assert_eq!(SimDuration::parse(&d.to_string()).unwrap(), d);
        }
        assert_eq!(SimTime(12_000_200_000).to_string(), "12.000200000");
    }

    #[test]
    fn negative_and_overflowing_durations_say_so() {
        let e = SimDuration::parse("-5s").unwrap_err();
        assert!(e.contains("`-5s` is negative"), "{e}");
        let e = SimDuration::parse("999999999999h").unwrap_err();
        assert!(e.contains("too large") && e.contains("5124095h"), "{e}");
        // More digits than a u64 holds: still "too large", not "not a number".
        let e = SimDuration::parse("99999999999999999999999s").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        // The fraction pushes it past u64::MAX: an error, not a wrap.
        let e = SimDuration::parse("18446744073.709551616s").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert_eq!(
            SimDuration::parse("18446744073.709551615s")
                .unwrap()
                .as_nanos(),
            u64::MAX
        );
        assert_eq!(
            SimDuration::parse("+2s").unwrap(),
            SimDuration::from_secs(2)
        );
        let e = crate::input::parse_yaml::<SimDuration>("d.yaml", "-5\n").unwrap_err();
        assert!(e.message.contains("negative"), "{e}");
    }
}
