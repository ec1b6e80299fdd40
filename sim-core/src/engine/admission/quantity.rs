//! `resource.ParseQuantity`'s verdict on a string (k8s.io/apimachinery v0.36.1,
//! `pkg/api/resource/quantity.go` and `suffix.go`), which Antrea's Egress webhook
//! applies to `bandwidth.rate` and `bandwidth.burst`. Only accept/refuse and the error
//! text are needed: the value itself is not used (EgressTrafficShaping is not
//! enforced by antlab).

/// `ErrFormatWrong`.
pub const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// `ErrSuffix`.
pub const SUFFIX: &str = "unable to parse quantity's suffix";
/// `ErrNumeric`.
pub const NUMERIC: &str = "unable to parse numeric part of quantity";

/// `Ok` if Kubernetes accepts `s` as a quantity, else its error message.
pub fn parse_quantity(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err(FORMAT_WRONG);
    }
    if s == "0" {
        return Ok(());
    }
    let parts = split(s)?;
    if !suffix_known(parts.suffix) {
        return Err(SUFFIX);
    }
    // The numeric part reaches `inf.Dec.SetString` only on the slow path; it fails
    // there when it holds no digit at all.
    if !parts.value.bytes().any(|b| b.is_ascii_digit()) && parts.slow_path {
        return Err(NUMERIC);
    }
    Ok(())
}

struct Parts<'a> {
    value: &'a str,
    suffix: &'a str,
    /// Whether ParseQuantity would leave its int64 fast path (19+ digits).
    slow_path: bool,
}

/// `parseQuantityString`: sign, digits, optional `.digits`, then a suffix of
/// `[eEinumkKMGTP]*[-+]?[0-9]*`.
fn split(s: &str) -> Result<Parts<'_>, &'static str> {
    let b = s.as_bytes();
    let mut pos = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        pos += 1;
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(pos);
    let mut count = b[pos..pos + n]
        .iter()
        .skip_while(|c| **c == b'0')
        .count()
        .max(1);
    pos += n;
    if b.get(pos) == Some(&b'.') {
        let d = digits(pos + 1);
        count += d;
        pos += 1 + d;
    }
    let value = &s[..pos];
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if matches!(b.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    pos += digits(pos);
    if pos != b.len() {
        return Err(FORMAT_WRONG);
    }
    Ok(Parts {
        value,
        suffix: &s[suffix_start..],
        slow_path: count > 18,
    })
}

/// The decimal SI, binary SI and `e<int>` suffixes `quantitySuffixer` knows.
fn suffix_known(suffix: &str) -> bool {
    const KNOWN: [&str; 16] = [
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    if KNOWN.contains(&suffix) {
        return true;
    }
    match suffix.strip_prefix(['e', 'E']) {
        Some(exp) if !exp.is_empty() => {
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            !digits.is_empty()
                && digits.bytes().all(|c| c.is_ascii_digit())
                && exp.parse::<i64>().is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from apimachinery's `quantity_test.go` (`TestQuantityParse`,
    /// `TestQuantityParseZero`, invalid table) as accept/refuse.
    #[test]
    fn kubernetes_accepts_and_refuses_the_same_strings() {
        for ok in [
            "0", "0n", "0u", "0m", "0Ki", "0k", "0Mi", "0M", "1", "1.", "1.5", "-1", "+1", "500k",
            "10M", "1.5G", "1Gi", "100m", "1e3", "1E3", "1e-3", "1e+3", "12.5Mi", "0.001", ".5",
            "-.5", "1Ei", "9E",
        ] {
            assert_eq!(parse_quantity(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", FORMAT_WRONG),
            ("500A", FORMAT_WRONG),
            ("10b", FORMAT_WRONG),
            ("1.1.1", FORMAT_WRONG),
            ("1+1", SUFFIX),
            ("1i", SUFFIX),
            ("1kk", SUFFIX),
            ("1MM", SUFFIX),
            ("1Kib", FORMAT_WRONG),
            ("1e", SUFFIX),
            ("1KiB", FORMAT_WRONG),
            (" 1", FORMAT_WRONG),
            ("1 ", FORMAT_WRONG),
            ("1Mb", FORMAT_WRONG),
        ] {
            assert_eq!(parse_quantity(bad), Err(why), "{bad}");
        }
    }
}
