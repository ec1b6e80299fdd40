//! The scenario's `startTime`: the wall-clock instant simulated time zero
//! stands for, so flow records carry real Unix seconds
//! (`flowStartSeconds`, IPFIX export times) instead of seconds since 1970.
//!
//! Written as RFC 3339 in UTC (`2024-05-03T08:00:00Z`); the default is that
//! fixed instant, so runs stay reproducible.

/// 2024-05-03T08:00:00Z, the default `startTime`.
pub const DEFAULT_START_UNIX: u64 = 1_714_723_200;

/// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DDTHH:MM:SSZ` to Unix seconds; years 1970..=2105, the range of
/// IPFIX's 32-bit `dateTimeSeconds`.
pub fn parse(text: &str) -> Result<u64, String> {
    let bad =
        || format!("`{text}` is not a UTC time like 2024-05-03T08:00:00Z (RFC 3339, ending in Z)");
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let s = &text[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_days[mo as usize - 1]
        || h > 23
        || mi > 59
        || s > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    if !(0..=i64::from(u32::MAX)).contains(&secs) {
        return Err(format!(
            "`{text}` is outside 1970..2106 (IPFIX times are 32-bit seconds)"
        ));
    }
    Ok(secs as u64)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_instants() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2024-05-03T08:00:00Z"), Ok(DEFAULT_START_UNIX));
        assert_eq!(parse("2000-02-29T23:59:59Z"), Ok(951_868_799));
        for t in [
            0,
            951_868_799,
            DEFAULT_START_UNIX,
            4_102_444_800,
            u64::from(u32::MAX),
        ] {
            assert_eq!(parse(&format(t)), Ok(t), "{}", format(t));
        }
        assert_eq!(format(DEFAULT_START_UNIX), "2024-05-03T08:00:00Z");
    }

    #[test]
    fn bad_times_say_what_is_expected() {
        for t in [
            "2024-05-03",
            "2024-05-03 08:00:00Z",
            "2024-05-03T08:00:00+02:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-03T24:00:00Z",
            "2024-0a-03T08:00:00Z",
        ] {
            assert!(parse(t).unwrap_err().contains("RFC 3339"), "{t}");
        }
        assert!(
            parse("2200-01-01T00:00:00Z")
                .unwrap_err()
                .contains("1970..2106")
        );
    }
}
