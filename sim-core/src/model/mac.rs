use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address, printed `bc:24:11:1d:82:f5` as `ip link` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// Group (multicast or broadcast) addresses have the I/G bit set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
    /// A locally administered unicast MAC derived from a name, so generated
    /// devices (pods, SVIs) keep the same MAC across runs.
    pub fn from_name(name: &str) -> MacAddr {
        // Mixed so that names differing in one character get visibly different MACs.
        let h = crate::rng::stream_seed(0, name).to_be_bytes();
        MacAddr([0x02, h[1], h[2], h[3], h[4], h[5]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!(
                "`{s}` is not a MAC address (expected six hex bytes like bc:24:11:1d:82:f5)"
            ));
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(format!(
                    "`{s}` is not a MAC address (each byte is two hex digits)"
                ));
            }
            out[i] = u8::from_str_radix(p, 16)
                .map_err(|_| format!("`{s}` is not a MAC address (bad hex `{p}`)"))?;
        }
        Ok(MacAddr(out))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: MacAddr = "BC:24:11:1D:82:F5".parse().unwrap();
        assert_eq!(m.to_string(), "bc:24:11:1d:82:f5");
        assert!("bc:24:11".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::from_name("x").is_multicast());
    }
}
