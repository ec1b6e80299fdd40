//! Which Antrea release antlab models: `options: {antreaVersion: v2.1.0}` in
//! a scenario, `--antrea-version` on the command line.
//!
//! The default is v1.15.1, the release the blog ran (its `antctl get
//! featuregates` tables are v1.15.1's) and the one every shipped scenario was
//! written against. Only released tags are accepted, v1.15.0 to v2.7.0: the
//! feature gates, the `antrea-agent.conf` keys and the behaviour that changed
//! between releases are tabled per tag (see `gates.rs`, `keys.rs`).

use std::fmt;

/// An Antrea release, `vMAJOR.MINOR.PATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AntreaVersion {
    pub(crate) major: u8,
    pub(crate) minor: u8,
    pub(crate) patch: u8,
}

const fn v(major: u8, minor: u8, patch: u8) -> AntreaVersion {
    AntreaVersion {
        major,
        minor,
        patch,
    }
}

pub const V1_15_0: AntreaVersion = v(1, 15, 0);
pub const V1_15_1: AntreaVersion = v(1, 15, 1);
pub const V2_0_0: AntreaVersion = v(2, 0, 0);
pub const V2_1_0: AntreaVersion = v(2, 1, 0);
pub const V2_2_0: AntreaVersion = v(2, 2, 0);
pub const V2_3_0: AntreaVersion = v(2, 3, 0);
pub const V2_4_0: AntreaVersion = v(2, 4, 0);
pub const V2_4_1: AntreaVersion = v(2, 4, 1);
pub const V2_5_0: AntreaVersion = v(2, 5, 0);
pub const V2_5_1: AntreaVersion = v(2, 5, 1);
pub const V2_6_0: AntreaVersion = v(2, 6, 0);
pub const V2_7_0: AntreaVersion = v(2, 7, 0);

/// Every release antlab knows: the tags of `antrea-io/antrea` from v1.15.0
/// to v2.7.0, patch releases included.
pub const RELEASES: &[AntreaVersion] = &[
    v(1, 15, 0),
    v(1, 15, 1),
    v(1, 15, 2),
    v(2, 0, 0),
    v(2, 0, 1),
    v(2, 1, 0),
    v(2, 1, 1),
    v(2, 1, 2),
    v(2, 2, 0),
    v(2, 2, 1),
    v(2, 2, 2),
    v(2, 3, 0),
    v(2, 3, 1),
    v(2, 3, 2),
    v(2, 4, 0),
    v(2, 4, 1),
    v(2, 4, 2),
    v(2, 4, 3),
    v(2, 4, 4),
    v(2, 4, 5),
    v(2, 5, 0),
    v(2, 5, 1),
    v(2, 5, 2),
    v(2, 5, 3),
    v(2, 6, 0),
    v(2, 6, 1),
    v(2, 6, 2),
    v(2, 6, 3),
    v(2, 7, 0),
];

impl Default for AntreaVersion {
    /// v1.15.1, the blog's release.
    fn default() -> Self {
        V1_15_1
    }
}

impl fmt::Display for AntreaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for AntreaVersion {
    type Err = String;

    /// `v2.1.0` or `2.1.0`; only released tags.
    fn from_str(text: &str) -> Result<Self, String> {
        let known = || {
            let mut minors: Vec<String> = Vec::new();
            for r in RELEASES {
                let last = RELEASES
                    .iter()
                    .filter(|o| (o.major, o.minor) == (r.major, r.minor))
                    .max()
                    .expect("r itself");
                if r.patch == 0 {
                    minors.push(if last.patch == 0 {
                        r.to_string()
                    } else {
                        format!("{r}-{last}")
                    });
                }
            }
            minors.join(", ")
        };
        let bare = text.strip_prefix('v').unwrap_or(text);
        let parts: Vec<&str> = bare.split('.').collect();
        let parsed = match parts.as_slice() {
            [a, b, c] => match (a.parse(), b.parse(), c.parse()) {
                (Ok(a), Ok(b), Ok(c)) => Some(v(a, b, c)),
                _ => None,
            },
            _ => None,
        };
        match parsed {
            Some(ver) if RELEASES.contains(&ver) => Ok(ver),
            Some(ver) => Err(format!(
                "antlab does not model Antrea {ver} (it knows the releases {})",
                known()
            )),
            None => Err(format!(
                "`{text}` is not an Antrea release like v2.1.0 (antlab knows {})",
                known()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_parse_with_or_without_v_and_others_are_refused() {
        assert_eq!("v2.1.0".parse::<AntreaVersion>(), Ok(V2_1_0));
        assert_eq!("2.4.1".parse::<AntreaVersion>(), Ok(V2_4_1));
        let e = "v2.8.0".parse::<AntreaVersion>().unwrap_err();
        assert!(e.contains("does not model Antrea v2.8.0"), "{e}");
        assert!(e.contains("v1.15.0-v1.15.2"), "{e}");
        assert!(e.contains("v2.7.0"), "{e}");
        let e = "v2.1".parse::<AntreaVersion>().unwrap_err();
        assert!(e.contains("`v2.1` is not an Antrea release"), "{e}");
        assert_eq!(AntreaVersion::default().to_string(), "v1.15.1");
    }

    #[test]
    fn releases_are_sorted_and_distinct() {
        assert!(RELEASES.windows(2).all(|w| w[0] < w[1]));
    }
}
