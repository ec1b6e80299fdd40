//! Which names a lab may use: every device and interface name of a topology
//! also becomes a Linux name when the lab is built for real (`antlab run
//! --mode real|both`): a device is a network namespace `al<id>-<device>`,
//! an interface keeps its name inside it. The loader applies these rules to
//! every topology, so `antlab check`, the simulator and real mode refuse the
//! same names, at the same `file:line:column`.
//!
//! The characters allowed are few on purpose: names then never need quoting
//! in the `ip -batch` and `nft -f` scripts real mode writes, and never read
//! as an option (`-x`), a comment (`#`) or a namespace-and-interface pair
//! (`ns:iface`).

/// Linux's longest interface name (`IFNAMSIZ` 16 with the final NUL).
pub const MAX_INTERFACE_NAME: usize = 15;

/// Real mode names a device's namespace `al<id>-<device>`: 7 bytes before
/// the name, and a namespace name is a file name (at most 255 bytes).
pub const MAX_DEVICE_NAME: usize = 255 - "al0000-".len();

fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// What is wrong with `name` as `what` ("device", "interface"), or None.
fn common_problem(name: &str, what: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{what} name is empty"));
    }
    if let Some(c) = name.chars().find(|c| !allowed_char(*c)) {
        return Some(format!(
            "{what} name `{}` has {} (names may use letters, digits, `-`, `_` and `.`; they become Linux names in real mode)",
            name.escape_debug(),
            describe(c)
        ));
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Some(format!(
            "{what} name `{name}` starts with `{}` (it would read as an option or a hidden file)",
            &name[..1]
        ));
    }
    if name.len() > max {
        let limit = match what {
            "interface" => "a Linux interface name",
            "device" => {
                "real mode's namespace `al<id>-<name>` is a file name of 255 bytes, so this name"
            }
            _ => "this name",
        };
        return Some(format!(
            "{what} name `{name}` is {} bytes long; {limit} has at most {max}",
            name.len()
        ));
    }
    None
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' | '\r' => "a line break".into(),
        '\0' => "a NUL byte".into(),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c => format!("`{c}`"),
    }
}

/// Why `name` cannot name a device (node, host, router, switch), or None.
pub fn device_name_problem(name: &str) -> Option<String> {
    common_problem(name, "device", MAX_DEVICE_NAME)
}

/// Why `name` cannot name a host interface or an SVI, or None. `lo`
/// exists in every namespace already.
pub fn interface_name_problem(name: &str) -> Option<String> {
    if name == "lo" {
        return Some(
            "interface name `lo` is the loopback every host already has; pick another name".into(),
        );
    }
    common_problem(name, "interface", MAX_INTERFACE_NAME)
}

/// Why `name` cannot name a switch port, or None. Ports stay inside the
/// switch (an OVS port's name is antlab's own), so only the characters and
/// a sane length matter.
pub fn port_name_problem(name: &str) -> Option<String> {
    common_problem(name, "port", MAX_DEVICE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_interface_names_fit_and_others_are_refused_with_the_reason() {
        for ok in [
            "eth0",
            "vlan181",
            "antrea-ext.181",
            "a",
            "x23456789012345",
            "eno1_2",
        ] {
            assert_eq!(interface_name_problem(ok), None, "{ok}");
        }
        let cases = [
            (
                "x234567890123456",
                "16 bytes long; a Linux interface name has at most 15",
            ),
            ("lo", "loopback"),
            ("eth0:1", "`:`"),
            ("eth#0", "`#`"),
            ("a/b", "`/`"),
            ("a b", "a space"),
            ("a\tb", "a tab"),
            ("a\nb", "a line break"),
            ("a\0b", "a NUL byte"),
            ("\"x\"", "`\"`"),
            ("-x", "starts with `-`"),
            (".", "starts with `.`"),
            ("..", "starts with `.`"),
            ("", "empty"),
            ("ä", "`ä`"),
        ];
        for (name, why) in cases {
            let p = interface_name_problem(name).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(p.contains(why), "{name:?}: {p}");
        }
    }

    #[test]
    fn device_names_become_namespace_names() {
        assert_eq!(device_name_problem("k8s-node-vm-1-cl-02"), None);
        assert_eq!(device_name_problem(&"n".repeat(MAX_DEVICE_NAME)), None);
        assert!(device_name_problem(&"n".repeat(MAX_DEVICE_NAME + 1)).is_some());
        assert!(device_name_problem("a:b").is_some());
        assert!(
            device_name_problem("lo").is_none(),
            "a device may be called lo"
        );
        assert!(port_name_problem("node-vm-1").is_none());
        assert!(port_name_problem("p#1").is_some());
    }
}
